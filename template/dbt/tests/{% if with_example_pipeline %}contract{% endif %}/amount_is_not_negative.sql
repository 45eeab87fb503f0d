-- Rule amount_is_not_negative: No order has a negative value.
-- Generated from datacontract.yaml (port orders) by `uv run contract dbt`:
-- change the contract and run it again; `uv run contract check` fails while this file differs.
{{ config(meta={'description': 'No order has a negative value.'}) }}
select observed
from (select (select count(*) from {{ ref('fct_orders') }} where {{ adapter.quote('amount') }} < 0) as observed) as contract_rule
where observed is null or not (observed = 0)
