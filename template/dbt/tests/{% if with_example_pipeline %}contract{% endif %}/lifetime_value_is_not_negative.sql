-- Rule lifetime_value_is_not_negative: A customer's value is never negative.
-- Generated from datacontract.yaml (port customers) by `uv run contract dbt`:
-- change the contract and run it again; `uv run contract check` fails while this file differs.
{{ config(meta={'description': "A customer's value is never negative."}) }}
select observed
from (select (select count(*) from {{ ref('dim_customers') }} where {{ adapter.quote('lifetime_value') }} < 0) as observed) as contract_rule
where observed is null or not (observed = 0)
