package oss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/alibabacloud-go/tea/dara"
	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

// Errors Open and Check return, wrapped with the bucket and the remedy;
// test with errors.Is.
var (
	// ErrNoBucket: the bucket does not exist.
	ErrNoBucket = errors.New("oss: no such bucket")
	// ErrVersionedBucket: the bucket's versioning is Enabled or Suspended,
	// where x-oss-forbid-overwrite does not take effect.
	ErrVersionedBucket = errors.New("oss: bucket has versioning")
	// ErrAccessDenied: the credential lacks a permission the store needs.
	ErrAccessDenied = errors.New("oss: access denied")
	// ErrOldLayout: the prefix holds run state written by an earlier
	// kmsmig (a plain object per key), which this store does not read.
	ErrOldLayout = errors.New("oss: run state in the earlier layout")
)

// Location says where a store lives and how to reach it.
type Location struct {
	// URL is oss://<bucket>[/<prefix>].
	URL string
	// Region is the bucket's region; Endpoint overrides its public endpoint.
	Region, Endpoint string
	// Insecure speaks plain HTTP with path-style addressing (an offline twin
	// on loopback: a bucket sub-domain of 127.0.0.1 does not resolve); an
	// Endpoint that is not a loopback one is then refused (cloud.ErrPlainHTTP).
	Insecure bool
	// Credential signs every request; it is asked before each one, so STS
	// credentials that change between invocations are always current.
	Credential credentials.Credential
}

// Open returns the store at loc once Check has accepted its bucket and
// prefix: it refuses a missing bucket, a versioned one, missing
// permissions and state in the earlier layout, before the caller does
// anything else. Cancellation: ctx.Err().
func Open(ctx context.Context, loc Location) (*Store, error) {
	s, err := Connect(loc)
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Connect returns the store at loc without contacting OSS or checking
// anything (see Open).
func Connect(loc Location) (*Store, error) {
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
		if err := cloud.CheckPlainHTTP("oss", loc.Endpoint, true); err != nil {
			return nil, err
		}
		// Real OSS refuses path-style requests; only the twin gets them.
		oc = oc.WithDisableSSL(true).WithUsePathStyle(true)
	}
	return New(osssdk.NewClient(oc), Config{Bucket: bucket, Prefix: prefix})
}

// Check verifies that the store can work, each refusal naming the bucket
// and the remedy:
//   - the bucket exists (ErrNoBucket) and has never had versioning
//     (ErrVersionedBucket; GetBucketVersioning);
//   - the credential may list the prefix, read, create and delete objects
//     in it (ErrAccessDenied): a HeadObject and a listing of the layout
//     marker, a create-only PutObject of it, a DeleteObject of a name
//     nothing uses;
//   - the prefix holds no state of the earlier layout (ErrOldLayout). That
//     takes one listing of the prefix, the first time only: once checked,
//     the prefix holds the layout marker.
//
// It writes nothing but the marker. Cancellation: ctx.Err().
func (s *Store) Check(ctx context.Context) error {
	var (
		wg                                sync.WaitGroup
		vres                              *osssdk.GetBucketVersioningResult
		verr, herr, lerr, derr            error
		markerLayout                      string
		hasMarker                         bool
		markerKey                         = s.prefix + markerName
		bucketPtr, markerPtr, probeKeyPtr = &s.bucket, osssdk.Ptr(markerKey), osssdk.Ptr(s.prefix + probeName)
	)
	wg.Go(func() {
		vres, verr = s.client.GetBucketVersioning(ctx, &osssdk.GetBucketVersioningRequest{Bucket: bucketPtr})
	})
	wg.Go(func() {
		res, err := s.client.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: bucketPtr, Key: markerPtr})
		switch {
		case isMissing(err):
		case err != nil:
			herr = err
		default:
			hasMarker, markerLayout = true, res.Metadata[metaLayout]
		}
	})
	wg.Go(func() {
		_, lerr = s.client.ListObjectsV2(ctx, &osssdk.ListObjectsV2Request{Bucket: bucketPtr, Prefix: markerPtr, MaxKeys: 1})
	})
	wg.Go(func() {
		_, derr = s.client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: bucketPtr, Key: probeKeyPtr})
	})
	wg.Wait()
	if verr != nil {
		return s.refusal(ctx, "GetBucketVersioning", verr)
	}
	if st := osssdk.ToString(vres.VersionStatus); st != "" {
		return fmt.Errorf("%w: bucket %s has versioning %s: x-oss-forbid-overwrite does not take effect on a bucket whose versioning is enabled or suspended, and the run-state store's compare-and-swap rests on it; keep the run state in a bucket that has never had versioning (OSS cannot switch versioning off once enabled) and point KMSMIG_STATE at it",
			ErrVersionedBucket, s.bucket, st)
	}
	for _, r := range []struct {
		op  string
		err error
	}{{"HeadObject", herr}, {"ListObjectsV2", lerr}, {"DeleteObject", derr}} {
		if r.err != nil {
			return s.refusal(ctx, r.op, r.err)
		}
	}
	if hasMarker {
		if markerLayout != layoutValue {
			return fmt.Errorf("oss: oss://%s/%s was written in run-state layout %q by another kmsmig version; this one reads layout %s: run the version that wrote it", s.bucket, s.prefix, markerLayout, layoutValue)
		}
	} else if err := s.scanEarlierLayout(ctx); err != nil {
		return err
	}
	// Create the marker, or prove oss:PutObject by failing to overwrite it.
	_, err := s.client.PutObject(ctx, &osssdk.PutObjectRequest{
		Bucket: bucketPtr, Key: markerPtr, Body: bytes.NewReader([]byte(layoutText)),
		ForbidOverwrite: osssdk.Ptr("true"), Metadata: map[string]string{metaLayout: layoutValue},
	}, noBlindRetry)
	if err != nil && !isTaken(err) {
		return s.refusal(ctx, "PutObject", err)
	}
	return nil
}

// scanEarlierLayout refuses a prefix holding objects outside the layout:
// state of the earlier layout, an object at <prefix><key>.
func (s *Store) scanEarlierLayout(ctx context.Context) error {
	names, err := s.earlierObjects(ctx, 1)
	if err != nil {
		return s.refusal(ctx, "ListObjectsV2", err)
	}
	if len(names) == 0 {
		return nil
	}
	name := names[0]
	return fmt.Errorf("%w: oss://%s/%s holds objects outside the version-log layout, such as %q: state written by kmsmig before the version log (one object per key), which this version neither reads nor overwrites. Stop the functions and run 'kmsmig migrate-state -state oss://%s/%s' to move each object into its key's log, or point KMSMIG_STATE at a prefix of its own",
		ErrOldLayout, s.bucket, s.prefix, name, s.bucket, strings.TrimSuffix(s.prefix, "/"))
}

// earlierObjects returns the names of up to limit objects under the
// prefix that are neither versions nor the store's own files (the marker,
// the probe, the approval signals).
func (s *Store) earlierObjects(ctx context.Context, limit int) ([]string, error) {
	var names []string
	p := s.client.NewListObjectsV2Paginator(&osssdk.ListObjectsV2Request{Bucket: &s.bucket, Prefix: osssdk.Ptr(s.prefix), MaxKeys: 1000})
	for p.HasNext() && len(names) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			name := osssdk.ToString(o.Key)
			rest := name[len(s.prefix):]
			if _, _, ok := parseName(rest); !ok && !strings.HasPrefix(rest, ".kmsmig-") && !isSignal(rest) && len(names) < limit {
				names = append(names, name)
			}
		}
	}
	return names, nil
}

// ramActions maps the calls Check makes to the RAM actions they need.
var ramActions = map[string]string{
	"GetBucketVersioning": "oss:GetBucketVersioning", "HeadObject": "oss:GetObject", "ListObjectsV2": "oss:ListObjects",
	"PutObject": "oss:PutObject", "DeleteObject": "oss:DeleteObject",
}

// refusal names the bucket and the remedy of an OSS refusal in Check.
func (s *Store) refusal(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var se *osssdk.ServiceError
	if errors.As(err, &se) {
		switch {
		case se.Code == "NoSuchBucket":
			return fmt.Errorf("%w: bucket %s does not exist (%s, request %s): create it, without versioning, in the region of KMSMIG_OSS_REGION (default: the function's), or correct KMSMIG_STATE",
				ErrNoBucket, s.bucket, op, se.RequestID)
		case se.StatusCode == http.StatusForbidden && se.Code == "AccessDenied":
			return fmt.Errorf("%w: bucket %s refused %s (%s, request %s): grant the caller %s; the run-state store needs oss:GetBucketVersioning and oss:ListObjects on the bucket, and oss:GetObject, oss:PutObject and oss:DeleteObject on %s* (deploy/ram-policy.json)",
				ErrAccessDenied, s.bucket, op, se.Message, se.RequestID, ramActions[op], s.prefix)
		}
		return fmt.Errorf("oss: bucket %s: %s: %d %s: %s (request %s): %w", s.bucket, op, se.StatusCode, se.Code, se.Message, se.RequestID, err)
	}
	return fmt.Errorf("oss: bucket %s: %s: %w", s.bucket, op, err)
}
