package rehearsal

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	sls "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	slstwin "github.com/kmsmig/kmsmig/twin/sls"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// readTrail reads the audit records of a run matching query, back through
// the official SLS client.
func readTrail(ctx context.Context, ready stack.Ready, key stack.Account, query string) ([]map[string]string, error) {
	c := &sls.Client{Endpoint: ready.SLS, AccessKeyID: key.AccessKeyID, AccessKeySecret: key.AccessKeySecret}
	c.SetHTTPClient(slstwin.HTTPClient(ready.SLS))
	now := time.Now().Unix()
	var out []map[string]string
	for offset := int64(0); ctx.Err() == nil; offset += 100 {
		resp, err := c.GetLogs(ready.LogProject, auditStore, "", now-24*3600, now+3600, query, 100, offset, false)
		if err != nil {
			return out, err
		}
		out = append(out, resp.Logs...)
		if len(resp.Logs) < 100 {
			break
		}
	}
	return out, ctx.Err()
}

// checkTrail: the trail of every run reached SLS whole. Every transition
// that any batch's history records has its Transition record, and every
// invocation reported its audit records written (none dropped, failed or
// pending).
func checkTrail(ctx context.Context, ready stack.Ready, key stack.Account, runIDs []string, batches []migration.BatchState, results [][]byte) (Check, int) {
	c := Check{Name: "audit trail complete in SLS"}
	var all []map[string]string
	for _, runID := range runIDs {
		recs, err := readTrail(ctx, ready, key, "run_id: "+runID)
		all = append(all, recs...)
		if err != nil {
			c.Detail = err.Error()
			return c, len(all)
		}
	}
	have := map[string]bool{}
	for _, r := range all {
		if r["action"] == "Transition" {
			have[r["run_id"]+" "+r["batch_id"]+" "+r["outcome"]] = true
		}
	}
	var missing []string
	transitions := 0
	for _, b := range batches {
		for _, h := range b.History {
			transitions++
			if !have[b.RunID+" "+b.ID+" "+string(h.To)] {
				missing = append(missing, b.RunID+" "+b.ID+" → "+string(h.To))
			}
		}
	}
	incomplete := 0
	for _, r := range results {
		var res struct {
			Audit *audit.Stats `json:"audit"`
		}
		if json.Unmarshal(r, &res) == nil && res.Audit != nil && !res.Audit.Complete() {
			incomplete++
		}
	}
	// A campaign that planned no batch (every lane blocked) still leaves
	// its discovery in the trail.
	c.OK = len(missing) == 0 && incomplete == 0 && len(all) > 0 && (transitions > 0 || len(batches) == 0)
	c.Detail = fmt.Sprintf("%d records of %d runs; %d transitions, %d without a record %s; %d invocations with an incomplete trail",
		len(all), len(runIDs), transitions, len(missing), clip(missing, 20), incomplete)
	return c, len(all)
}
