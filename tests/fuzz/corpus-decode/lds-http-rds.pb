
	lds-rds-7Ö
5type.googleapis.com/envoy.config.listener.v3.Listenerœ
ingress_rds

::P0òï
-envoy.filters.network.http_connection_manager"½
etype.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManagerÓingress?
-0B)
/etc/fsxds/out/rds.pb
/etc/fsxds/outingress_routes*e
envoy.filters.http.router"H
Btype.googleapis.com/envoy.extensions.filters.http.router.v3.Router Redgebrz˜Â¬â<âingress_rds"5type.googleapis.com/envoy.config.listener.v3.Listener