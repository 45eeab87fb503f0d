with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        product_id,
        product_name,
        coalesce(category, 'uncategorized') as category,
        cast(unit_price as decimal(10, 2)) as unit_price

    from source

)

select * from renamed
