
	cds-tls-3ò
3type.googleapis.com/envoy.config.cluster.v3.Clusterº
vault"Âú
envoy.transport_sockets.tlsÚ
Ptype.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext…
k
"http/1.120
vault_client_cert0B
/etc/fsxds/out/sds.pb:'
vault_ca0B
/etc/fsxds/out/sds.pbvault.example.internalŠ,
vault#!


vault.example.internalˆ@"3type.googleapis.com/envoy.config.cluster.v3.Cluster