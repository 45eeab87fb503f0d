with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        product_id,
        product_name,
        cast(unit_price as decimal(10, 2)) as unit_price,
        coalesce(category, 'uncategorized') as category

    from source

)

select * from renamed
