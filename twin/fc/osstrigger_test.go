package fc_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

// Objects PutObject creates in the OSS twin (through the official SDK)
// invoke the functions whose OSS trigger matches bucket, event, prefix and
// suffix, asynchronously, with FC's documented OSS event; others invoke
// nothing.
func TestOSSTriggerDelivery(t *testing.T) {
	s, keys := newServer(t, fc.Config{})
	var (
		mu     sync.Mutex
		events = map[string][][]byte{}
	)
	record := func(name string) fc.HandlerFunc {
		return func(_ context.Context, ev []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			events[name] = append(events[name], ev)
			return []byte(`{}`), nil
		}
	}
	trigger := fc.OSSTrigger{Name: "approvals", SourceArn: "acs:oss:" + testRegion + ":" + testAccount + ":state", Bucket: "state",
		Events: []string{"oss:ObjectCreated:*"}, Prefix: "kmsmig/approvals/", Suffix: ".json"}
	require.NoError(t, s.Deploy(fc.Function{Name: "migrate", Handler: record("migrate"), OSSTriggers: []fc.OSSTrigger{trigger}}))
	other := trigger
	other.Name, other.Events = "deletes", []string{"oss:ObjectRemoved:DeleteObject"}
	require.NoError(t, s.Deploy(fc.Function{Name: "other", Handler: record("other"), OSSTriggers: []fc.OSSTrigger{other}}))

	ossSrv, err := osstwin.New(osstwin.Config{Keyring: keys, Buckets: []osstwin.Bucket{{Name: "state", Account: testAccount, Region: testRegion},
		{Name: "elsewhere", Account: testAccount, Region: testRegion}},
		OnObjectCreated: func(e osstwin.ObjectCreated) {
			s.DeliverOSSEvent(fc.OSSObjectEvent{EventName: e.EventName, Region: e.Bucket.Region, BucketOwner: e.Bucket.Account, Bucket: e.Bucket.Name,
				Key: e.Key, ETag: e.ETag, Size: e.Size, DeltaSize: e.DeltaSize, RequestID: e.RequestID, Principal: e.Principal, SourceIP: e.SourceIP, Time: e.Time})
		}})
	require.NoError(t, err)
	hs := httptest.NewServer(ossSrv)
	t.Cleanup(hs.Close)
	owner, _ := keys.Account(testAccount)
	client := osssdk.NewClient(osssdk.LoadDefaultConfig().WithRegion(testRegion).WithEndpoint(hs.URL).WithUsePathStyle(true).
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(owner.AccessKeyID, owner.AccessKeySecret)))
	put := func(bucket, key, body string) {
		t.Helper()
		_, err := client.PutObject(t.Context(), &osssdk.PutObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(key), Body: strings.NewReader(body)})
		require.NoError(t, err)
	}
	put("state", "kmsmig/approvals/run-1.json", `{"runId":"run-1"}`)
	put("state", "kmsmig/approvals/run-1.txt", "x")                                 // suffix
	put("state", "kmsmig/runs/run-1/plan.json", "{}")                               // prefix
	put("elsewhere", "kmsmig/approvals/run-1.json", "{}")                           // bucket
	put("state", "kmsmig/approvals/run-1.json", `{"runId":"run-1", "again": true}`) // overwritten: created again

	ctx := t.Context()
	for range 2 {
		_, err := s.WaitFor(ctx, func(inv fc.Invocation) bool { return inv.Function == "migrate" && inv.Source == fc.SourceOSS })
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events["migrate"]) == 2 }, 5e9, 1e7)
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, events["other"], "another event type fires nothing")
	// Asynchronous invocations run concurrently, in no promised order (FC
	// promises none): tell the two deliveries apart by the object's size.
	decoded := make([]fc.OSSEvent, 2)
	for i, raw := range events["migrate"] {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&decoded[i]))
		require.Len(t, decoded[i].Events, 1)
	}
	if decoded[0].Events[0].OSS.Object.Size != int64(len(`{"runId":"run-1"}`)) {
		decoded[0], decoded[1] = decoded[1], decoded[0]
	}
	r := decoded[0].Events[0]
	assert.Equal(t, "ObjectCreated:PutObject", r.EventName)
	assert.Equal(t, "acs:oss", r.EventSource)
	assert.Equal(t, "1.0", r.EventVersion)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$`, r.EventTime)
	assert.Equal(t, "state", r.OSS.Bucket.Name)
	assert.Equal(t, "acs:oss:"+testRegion+":"+testAccount+":state", r.OSS.Bucket.Arn)
	assert.Equal(t, testAccount, r.OSS.Bucket.OwnerIdentity)
	assert.Equal(t, "kmsmig/approvals/run-1.json", r.OSS.Object.Key)
	assert.Equal(t, int64(len(`{"runId":"run-1"}`)), r.OSS.Object.Size)
	assert.Equal(t, r.OSS.Object.Size, r.OSS.Object.DeltaSize, "a new object")
	assert.Len(t, r.OSS.Object.ETag, 32)
	assert.Equal(t, "1.0", r.OSS.OSSSchemaVersion)
	assert.Equal(t, testRegion, r.Region)
	assert.NotEmpty(t, r.ResponseElements.RequestID)
	assert.Equal(t, testAccount, r.UserIdentity.PrincipalID)
	assert.NotEmpty(t, r.RequestParameters.SourceIPAddress)
	second := decoded[1].Events[0].OSS.Object
	assert.Equal(t, int64(len(`{"runId":"run-1", "again": true}`)), second.Size)
	assert.Equal(t, int64(len(`{"runId":"run-1", "again": true}`)-len(`{"runId":"run-1"}`)), second.DeltaSize, "an overwritten object")
}
