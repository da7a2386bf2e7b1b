
2„
Btype.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment>

webcluster0


172.31.11.11P


172.31.11.12P"Btype.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment