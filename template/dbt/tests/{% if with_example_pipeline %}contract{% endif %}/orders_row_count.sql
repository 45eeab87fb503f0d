-- Rule orders_row_count: The port is never published empty.
-- Generated from datacontract.yaml (port orders) by `uv run contract dbt`:
-- change the contract and run it again; `uv run contract check` fails while this file differs.
{{ config(meta={'description': 'The port is never published empty.'}) }}
select observed
from (select (select count(*) from {{ ref('fct_orders') }}) as observed) as contract_rule
where observed is null or not (observed > 0)
