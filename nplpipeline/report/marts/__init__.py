"""The KPI layer's star schema and the marts BI tools and the dashboard read."""
