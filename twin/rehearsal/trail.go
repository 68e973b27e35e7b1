package rehearsal

import (
	"context"
	"encoding/json"
	"time"

	sls "github.com/aliyun/aliyun-log-go-sdk"

	slstwin "github.com/kmsmig/kmsmig/twin/sls"
	"github.com/kmsmig/kmsmig/twin/stack"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// countTrail counts the audit records of a run, read back through the
// official SLS client.
func countTrail(ctx context.Context, ready stack.Ready, key stack.Account, runID string) (int, error) {
	c := &sls.Client{Endpoint: ready.SLS, AccessKeyID: key.AccessKeyID, AccessKeySecret: key.AccessKeySecret}
	c.SetHTTPClient(slstwin.HTTPClient(ready.SLS))
	now := time.Now().Unix()
	n := 0
	for offset := int64(0); ctx.Err() == nil; offset += 100 {
		resp, err := c.GetLogs(ready.LogProject, auditStore, "", now-24*3600, now+3600, "run_id: "+runID, 100, offset, false)
		if err != nil {
			return n, err
		}
		n += len(resp.Logs)
		if len(resp.Logs) < 100 {
			break
		}
	}
	return n, ctx.Err()
}
