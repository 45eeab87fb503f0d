with

orders as (

    select * from {{ ref('stg_orders') }}

),

products as (

    select * from {{ ref('stg_products') }}

),

priced as (

    select
        orders.order_id,
        orders.customer_id,
        orders.product_id,
        orders.order_date,
        orders.status,
        orders.quantity,
        products.unit_price,
        cast(orders.quantity * products.unit_price as decimal(12, 2)) as amount,
        orders.coupon_code,
        orders.arrived_late

    from orders
    inner join products on orders.product_id = products.product_id

)

select * from priced
