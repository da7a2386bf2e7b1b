
	eds-loc-3Ê
Btype.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignmentü
orders]
#

eu-centraleu-central-arack-12


	10.4.1.11ê?"


	10.4.1.12ê?"F6


eu-centraleu-central-b


	10.4.2.11ê?"Btype.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment