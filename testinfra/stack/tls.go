package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"time"
)

// twinCA is a throw-away certificate authority for the twins that must be
// reached over HTTPS (STS: credentials-go only speaks HTTPS to it). Its key
// lives only in memory for the life of the stack.
type twinCA struct {
	pem  []byte
	pool *x509.CertPool
	leaf tls.Certificate
}

func newTwinCA(host string) (*twinCA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kmsmig twin CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sts.aliyuncs.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "sts.aliyuncs.com"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if ip := net.ParseIP(host); ip != nil {
		leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
	} else if host != "" {
		leafTmpl.DNSNames = append(leafTmpl.DNSNames, host)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &twinCA{
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool: pool,
		leaf: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
	}, nil
}

// serveTLS listens on a free port of host and serves h over TLS.
func (s *Stack) serveTLS(host string, h http.Handler, ca *twinCA) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.leaf}, MinVersion: tls.VersionTLS12}}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	return ln.Addr().String(), nil
}

// TrustInProcess makes this process's default HTTP transport trust the
// stack's CA (on top of the system roots), for in-process callers such as
// credentials-go's role provider, which clones http.DefaultTransport. Child
// processes trust it through SSL_CERT_FILE=<a file holding Ready.CAPEM>
// instead. It is meant for tests and rehearsals, never for production.
func (s *Stack) TrustInProcess() error {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return errors.New("stack: http.DefaultTransport is not an *http.Transport")
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(s.ca.pem)
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = pool
	return nil
}
