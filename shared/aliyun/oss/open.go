package oss

import (
	"context"
	"fmt"
	"strings"

	"github.com/alibabacloud-go/tea/dara"
	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/credentials-go/credentials"
)

// Location says where a store lives and how to reach it.
type Location struct {
	// URL is oss://<bucket>[/<prefix>].
	URL string
	// Region is the bucket's region; Endpoint overrides its public endpoint.
	Region, Endpoint string
	// Insecure speaks plain HTTP with path-style addressing (an offline twin
	// on loopback: a bucket sub-domain of 127.0.0.1 does not resolve).
	Insecure bool
	// Credential signs every request; it is asked before each one, so STS
	// credentials that change between invocations are always current.
	Credential credentials.Credential
}

// Open returns the store at loc. It does no I/O.
func Open(loc Location) (*Store, error) {
	rest, ok := strings.CutPrefix(loc.URL, "oss://")
	if !ok || rest == "" {
		return nil, fmt.Errorf("oss: %q: want oss://<bucket>[/<prefix>]", loc.URL)
	}
	if loc.Credential == nil {
		return nil, fmt.Errorf("oss: %s: no credential", loc.URL)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	cred := loc.Credential
	oc := osssdk.LoadDefaultConfig().
		WithRegion(loc.Region).
		WithCredentialsProvider(osscred.CredentialsProviderFunc(func(ctx context.Context) (osscred.Credentials, error) {
			c, err := cred.GetCredential()
			if err != nil {
				return osscred.Credentials{}, err
			}
			return osscred.Credentials{AccessKeyID: dara.StringValue(c.AccessKeyId), AccessKeySecret: dara.StringValue(c.AccessKeySecret), SecurityToken: dara.StringValue(c.SecurityToken)}, nil
		}))
	if loc.Endpoint != "" {
		oc = oc.WithEndpoint(loc.Endpoint)
	}
	if loc.Insecure {
		// Real OSS refuses path-style requests; only the twin gets them.
		oc = oc.WithDisableSSL(true).WithUsePathStyle(true)
	}
	return New(osssdk.NewClient(oc), Config{Bucket: bucket, Prefix: prefix})
}
