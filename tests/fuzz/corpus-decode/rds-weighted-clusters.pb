
	canary-17à
<type.googleapis.com/envoy.config.route.v3.RouteConfigurationŸ
canary_routes
checkoutcheckout.example.internalf

/_]
#
checkout_v1_"

x-canaryno
$
checkout_v2"

x-canaryyesrouting.checkout"<type.googleapis.com/envoy.config.route.v3.RouteConfiguration