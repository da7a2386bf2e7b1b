
vh-1”
5type.googleapis.com/envoy.config.route.v3.VirtualHost[
)on_demand_routes/tickets.example.internaltickets.example.internal

/
ticketsB"5type.googleapis.com/envoy.config.route.v3.VirtualHost