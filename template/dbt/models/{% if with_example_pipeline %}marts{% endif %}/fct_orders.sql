with

orders as (

    select * from {{ ref('int_orders_priced') }}

),

final as (

    select
        order_id,
        customer_id,
        product_id,
        order_date,
        status,
        quantity,
        unit_price,
        amount,
        coupon_code,
        arrived_late

    from orders

)

select * from final
