with

customers as (

    select * from {{ ref('stg_customers') }}

),

orders as (

    select * from {{ ref('int_orders_priced') }}

),

customer_orders as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as order_count,
        sum(
            case when status in ('shipped', 'completed') then amount else 0 end
        ) as lifetime_value

    from orders
    group by customer_id

),

joined as (

    select
        customers.customer_id,
        customers.customer_name,
        customers.email,
        customers.country_code,
        customers.signed_up_on,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        cast(coalesce(customer_orders.order_count, 0) as bigint) as order_count,
        cast(
            coalesce(customer_orders.lifetime_value, 0) as decimal(14, 2)
        ) as lifetime_value

    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id

)

select * from joined
