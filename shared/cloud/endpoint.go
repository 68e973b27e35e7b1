package cloud

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// LoopbackEndpoint reports whether endpoint (host[:port], or a URL of
// one) names this machine: localhost, 127.0.0.0/8 or ::1. Plain HTTP
// (KMSMIG_INSECURE) may go to such an endpoint only: the offline twins
// listen there and have no TLS.
func LoopbackEndpoint(endpoint string) bool {
	if _, rest, ok := strings.Cut(endpoint, "://"); ok {
		endpoint, _, _ = strings.Cut(rest, "/")
	}
	host := endpoint
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrPlainHTTP is returned by an adapter asked to speak plain HTTP
// (KMSMIG_INSECURE) to an endpoint that is not a loopback one; nothing was
// sent.
var ErrPlainHTTP = errors.New("plain HTTP (KMSMIG_INSECURE) goes to loopback endpoint overrides only")

// CheckPlainHTTP returns an error wrapping ErrPlainHTTP, naming service and
// endpoint, when insecure is set and endpoint is not a loopback one.
func CheckPlainHTTP(service, endpoint string, insecure bool) error {
	if insecure && !LoopbackEndpoint(endpoint) {
		return fmt.Errorf("%s: %s: %w; refused before any request", service, endpoint, ErrPlainHTTP)
	}
	return nil
}
