
srds-1i
Btype.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration#

scope_acmeroutes_acme

acmeo
Btype.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration)
scope_globexroutes_globex


globex"Btype.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration