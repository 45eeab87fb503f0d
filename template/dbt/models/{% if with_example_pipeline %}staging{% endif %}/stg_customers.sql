with

source as (

    select * from {{ source('raw', 'customers') }}

),

renamed as (

    select
        customer_id,
        full_name as customer_name,
        signed_up_on,
        lower(email) as email,
        upper(country_code) as country_code

    from source

)

select * from renamed
