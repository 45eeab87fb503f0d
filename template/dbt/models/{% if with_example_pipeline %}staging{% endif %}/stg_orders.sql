with

source as (

    select * from {{ source('raw', 'orders') }}

),

deliveries as (

    select
        *,
        row_number() over (
            partition by order_id order by _loaded_at desc
        ) as delivery_rank,
        min(_loaded_at) over (partition by order_id) as first_loaded_at

    from source

),

renamed as (

    select
        order_id,
        customer_id,
        product_id,
        quantity,
        status,
        ordered_at,
        cast(ordered_at as date) as order_date,
        coupon_code,
        first_loaded_at,
        {{ datediff('ordered_at', 'first_loaded_at', 'hour') }} > 48
            as arrived_late

    from deliveries
    -- A re-sent order carries its newest status: keep the latest delivery only.
    where delivery_rank = 1

)

select * from renamed
