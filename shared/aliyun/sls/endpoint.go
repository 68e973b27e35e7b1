package sls

import (
	"net"
	"strings"
)

// WithScheme returns endpoint with the scheme the SDK should use. The SDK
// speaks plain HTTP to an endpoint without a scheme, so "cn-hangzhou.log.
// aliyuncs.com" would send the audit trail and the STS token header in
// clear: a bare endpoint gets https://, except a loopback host:port (an
// offline twin, which has no TLS). An endpoint with a scheme is kept.
func WithScheme(endpoint string) string {
	if endpoint == "" || strings.Contains(endpoint, "://") {
		return endpoint
	}
	if host, _, err := net.SplitHostPort(endpoint); err == nil {
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return endpoint
		}
	}
	return "https://" + endpoint
}
