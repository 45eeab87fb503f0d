-- Rule quantity_is_positive: Every order is for at least one unit.
-- Generated from datacontract.yaml (port orders) by `uv run contract dbt`:
-- change the contract and run it again; `uv run contract check` fails while this file differs.
{{ config(meta={'description': 'Every order is for at least one unit.'}) }}
select observed
from (select (select count(*) from {{ ref('fct_orders') }} where {{ adapter.quote('quantity') }} < 1) as observed) as contract_rule
where observed is null or not (observed = 0)
