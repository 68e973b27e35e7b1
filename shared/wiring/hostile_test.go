package wiring_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/shared/wiring"
)

// hostileCase is one bad input: an event, a setting, or a document in the
// run-state store, given to a function through the whole boundary
// (decoding, configuration, wiring, the use case).
type hostileCase struct {
	name     string
	function string            // discover, migrate, poll or rotate
	env      map[string]string // settings over the base ones ("" unsets)
	stored   map[string]string // run-state documents present before
	event    string
	want     []string // substrings of the error: the field and the reason
	// alerts is how many alerts reach the webhook: 0 for a refused event;
	// 1 for a refused configuration, which raises the function-error alert
	// through the alert path configured on its own (0 when the alert
	// settings are themselves refused), and for a stored document that
	// cannot be read (a broken store is an operator's problem).
	alerts int
}

// TestHostileInputs: every bad event, setting, stored document and store
// key is refused with an error naming the field and the reason, and
// nothing happens: no run-state object is created, changed or deleted
// (but the de-duplication entry of an alert raised), no request reaches
// KMS or Function Compute, and no alert is sent (but the one a refused
// configuration or a broken store raises, see hostileCase.alerts).
func TestHostileInputs(t *testing.T) {
	var cloudCalls atomic.Int64 // KMS and FC: every endpoint points here
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cloudCalls.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer cloud.Close()
	var alerts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		alerts.Add(1)
	}))
	defer hook.Close()
	addr := strings.TrimPrefix(cloud.URL, "http://")
	base := map[string]string{
		"KMSMIG_AUDIT": "stdout", "KMSMIG_INSECURE": "true",
		"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou=" + addr + ",cn-shanghai=" + addr, "KMSMIG_FC_ENDPOINT": addr,
		"KMSMIG_ALERT_WEBHOOK": hook.URL + "/hook?key=hook-s3cret",
	}
	regions := make([]string, 65)
	for i := range regions {
		regions[i] = fmt.Sprintf(`"cn-r%d"`, i)
	}
	manyLanes := make([]string, 1001)
	for i := range manyLanes {
		manyLanes[i] = fmt.Sprintf(`"%d/cn-hangzhou"`, 1000+i)
	}
	tests := []hostileCase{
		// Events.
		{name: "region that is a host", function: "discover", event: `{"dryRun":true,"regions":["attacker.example#"]}`,
			want: []string{`discover event: regions[0]: "attacker.example#" is not a region id like cn-hangzhou`}},
		{name: "too many regions", function: "discover", event: `{"dryRun":true,"regions":[` + strings.Join(regions, ",") + `]}`,
			want: []string{"discover event: regions: 65 given, at most 64"}},
		{name: "region not configured", function: "discover", env: map[string]string{"KMSMIG_REGIONS": "cn-hangzhou"},
			event: `{"dryRun":true,"regions":["cn-shanghai"]}`, want: []string{`discover event: regions: "cn-shanghai" is not configured`}},
		{name: "account that is not a UID", function: "discover", event: `{"dryRun":true,"accounts":["12ab"]}`,
			want: []string{`discover event: accounts[0]: "12ab" is not an account UID (digits only)`}},
		{name: "account given twice", function: "discover", event: `{"dryRun":true,"accounts":["1111","1111"]}`,
			want: []string{`discover event: accounts[1]: "1111" is given twice`}},
		{name: "account not configured", function: "discover", event: `{"dryRun":true,"accounts":["2222"]}`,
			want: []string{`discover event: accounts: "2222" is not configured`}},
		{name: "timer payload beside direct options", function: "discover", event: `{"triggerName":"t","payload":"{}","dryRun":true,"runId":"trial"}`,
			want: []string{"discover event: payload: a timer event's payload cannot be combined with direct options"}},
		{name: "field name in another case", function: "discover", event: `{"DRYRUN":true}`,
			want: []string{`json: unknown field "DRYRUN" (field names are case-sensitive: "dryRun")`}},
		{name: "trailing data", function: "discover", event: `{"dryRun":true} {"dryRun":false}`, want: []string{"unexpected data after the JSON value"}},
		{name: "field given twice", function: "discover", event: `{"dryRun":true,"dryRun":false}`, want: []string{`json: field "dryRun" given twice`}},
		{name: "unknown field", function: "migrate", event: `{"runId":"r1","colour":"red"}`, want: []string{`json: unknown field "colour"`}},
		{name: "empty event", function: "poll", event: ``, want: []string{"empty event"}},
		{name: "payload field in another case", function: "discover", event: `{"triggerName":"t","payload":"{\"DryRun\":true}"}`,
			want: []string{`discover event: payload: json: unknown field "DryRun"`}},
		{name: "run id that is a path", function: "migrate", event: `{"runId":"../current"}`, want: []string{`event: runId "../current": must be`}},
		{name: "lane that is a path", function: "poll", event: `{"runId":"r1","lane":"../cn-hangzhou"}`,
			want: []string{`event: lane: "../cn-hangzhou": want <account UID>/<region id>`}},
		{name: "batch on migrate", function: "migrate", event: `{"runId":"r1","batchId":"1111/cn-hangzhou/b0001"}`,
			want: []string{"event: batchId: migrate and poll take the next batch of every lane"}},
		{name: "batch in poll's timer payload", function: "poll", event: `{"triggerName":"t","payload":"{\"batchId\":\"1111/cn-hangzhou/b0001\"}"}`,
			want: []string{"event: batchId: "}},
		{name: "batch id that is a path", function: "rotate", event: `{"action":"restore","runId":"r1","batchId":"../../current"}`,
			want: []string{`rotate event: batchId "../../current": want <account UID>/<region id>/b<number>`}},
		{name: "abort without a batch", function: "rotate", event: `{"action":"abort","runId":"r1"}`, want: []string{"rotate event: batchId: required for action abort"}},
		{name: "unknown action", function: "rotate", event: `{"action":"explode"}`, want: []string{`rotate event: action "explode": want`}},
		{name: "rotate payload beside an action", function: "rotate", event: `{"triggerName":"daily","payload":"{\"action\":\"sweep\"}","action":"abort"}`,
			want: []string{"rotate event: payload: a timer event's payload cannot be combined with direct options"}},
		{name: "unknown field outside a destination event", function: "rotate", event: `{"requestContext":null,"version":"v2"}`,
			want: []string{`json: unknown field "version"`}},
		{name: "group lane given twice", function: "migrate", event: `{"runId":"r1","lanes":["1111/cn-hangzhou","2222/cn-hangzhou","1111/cn-hangzhou"]}`,
			want: []string{`event: lanes[2]: "1111/cn-hangzhou" is given twice`}},
		{name: "group lane that is a path", function: "poll", event: `{"runId":"r1","lanes":["1111/cn-hangzhou","../cn-hangzhou"]}`,
			want: []string{`event: lanes[1]: "../cn-hangzhou": want <account UID>/<region id>`}},
		{name: "group lane too long", function: "poll", event: `{"runId":"r1","lanes":["111111111111111111111/cn-hangzhou"]}`,
			want: []string{`event: lanes[0]: "111111111111111111111/cn-hangzhou": want <account UID>/<region id>, like 1234567890/cn-hangzhou (at most 20 digits / 32 characters)`}},
		{name: "empty group", function: "poll", event: `{"runId":"r1","lanes":[]}`, want: []string{"event: lanes: empty"}},
		{name: "too many group lanes", function: "migrate", event: `{"runId":"r1","lanes":[` + strings.Join(manyLanes, ",") + `]}`,
			want: []string{"event: lanes: 1001 given, at most 1000"}},
		{name: "group without its run", function: "migrate", event: `{"lanes":["1111/cn-hangzhou"]}`,
			want: []string{"event: lanes: a group of lanes needs its runId"}},
		{name: "group beside a lane", function: "poll", event: `{"runId":"r1","lane":"1111/cn-hangzhou","lanes":["1111/cn-hangzhou"]}`,
			want: []string{"event: lanes: a group of lanes cannot be combined with lane or batchId"}},
		{name: "group beside a batch", function: "migrate", event: `{"runId":"r1","batchId":"1111/cn-hangzhou/b0001","lanes":["1111/cn-hangzhou"]}`,
			want: []string{"event: batchId: migrate and poll take the next batch"}},
		{name: "group lanes that are not a list", function: "poll", event: `{"runId":"r1","lanes":"1111/cn-hangzhou"}`,
			want: []string{"json: cannot unmarshal string into Go struct field StepEvent.lanes of type []string"}},
		{name: "group in poll's timer payload, twice", function: "poll", event: `{"triggerName":"t","payload":"{\"runId\":\"r1\",\"lanes\":[\"1111/cn-hangzhou\",\"1111/cn-hangzhou\"]}"}`,
			want: []string{`event: lanes[1]: "1111/cn-hangzhou" is given twice`}},
		{name: "group on rotate", function: "rotate", event: `{"runId":"r1","lanes":["1111/cn-hangzhou"]}`,
			want: []string{"rotate event: lanes: only migrate and poll step a group of lanes"}},
		// Settings.
		{name: "step lanes per invocation 0", function: "migrate", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_STEP_LANES_PER_INVOCATION": "0"},
			want: []string{`KMSMIG_STEP_LANES_PER_INVOCATION: "0": must be a whole number from 1 to 1000 (a group's event names its lanes`}},
		{name: "step lanes per invocation over the payload", function: "poll", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_STEP_LANES_PER_INVOCATION": "1001"},
			want: []string{`KMSMIG_STEP_LANES_PER_INVOCATION: "1001": must be a whole number from 1 to 1000`, "128 KB asynchronous payload"}},
		{name: "step lanes per invocation not a number", function: "poll", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_STEP_LANES_PER_INVOCATION": "all"},
			want: []string{`KMSMIG_STEP_LANES_PER_INVOCATION: "all": must be a whole number from 1 to 1000`}},
		{name: "discover lanes per invocation negative", function: "discover", event: `{"dryRun":true}`, alerts: 1, env: map[string]string{"KMSMIG_DISCOVER_LANES_PER_INVOCATION": "-3"},
			want: []string{`KMSMIG_DISCOVER_LANES_PER_INVOCATION: "-3": must be a whole number from 1 to 1000`}},
		{name: "fan-out invocations 0", function: "discover", event: `{"dryRun":true}`, alerts: 1, env: map[string]string{"KMSMIG_FANOUT_INVOCATIONS": "0"},
			want: []string{`KMSMIG_FANOUT_INVOCATIONS: "0": must be a whole number from 1 to 90`}},
		{name: "fan-out invocations over the instance limit", function: "migrate", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_FANOUT_INVOCATIONS": "100"},
			want: []string{`KMSMIG_FANOUT_INVOCATIONS: "100": must be a whole number from 1 to 90`, "100 instances per account and region"}},
		{name: "step fan-out without poll chaining", function: "poll", event: `{}`, alerts: 1,
			env:  map[string]string{"KMSMIG_STEP_LANES_PER_INVOCATION": "5", "KMSMIG_FUNCTION_POLL": "-"},
			want: []string{"KMSMIG_STEP_LANES_PER_INVOCATION: is set but KMSMIG_FUNCTION_POLL is - (no chaining)"}},
		{name: "poll function name", function: "poll", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_FUNCTION_POLL": "../poll"},
			want: []string{`KMSMIG_FUNCTION_POLL: "../poll" is not a Function Compute function name`}},
		{name: "insecure to a real endpoint", function: "migrate", event: `{}`, alerts: 1,
			env:  map[string]string{"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou=kms.cn-hangzhou.aliyuncs.com"},
			want: []string{"KMSMIG_INSECURE: true sends plain HTTP", "KMSMIG_KMS_ENDPOINTS: cn-hangzhou=kms.cn-hangzhou.aliyuncs.com is not a loopback endpoint"}},
		{name: "insecure with a region without override", function: "discover", event: `{"dryRun":true}`, alerts: 1,
			env: map[string]string{"KMSMIG_REGIONS": "cn-hangzhou,cn-beijing"}, want: []string{"KMSMIG_INSECURE: ", "region cn-beijing has no override"}},
		{name: "endpoint that is not host:port", function: "discover", event: `{"dryRun":true}`, alerts: 1,
			env: map[string]string{"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou=attacker.example#"}, want: []string{`KMSMIG_KMS_ENDPOINTS: "attacker.example#": want host[:port]`}},
		{name: "state with ..", function: "poll", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_STATE": "oss://b-1/../x", "KMSMIG_OSS_ENDPOINT": addr},
			want: []string{`KMSMIG_STATE: "oss://b-1/../x": the prefix must not hold empty, . or .. segments`}},
		{name: "dir state inside Function Compute", function: "migrate", event: `{}`, alerts: 1, env: map[string]string{"FC_FUNCTION_NAME": "kmsmig-migrate"},
			want: []string{"KMSMIG_STATE: ", "dir: state inside Function Compute"}},
		{name: "target that is not an instance", function: "migrate", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_TARGETS": "1111/cn-hangzhou=i-123"},
			want: []string{`KMSMIG_TARGETS: lane 1111/cn-hangzhou: "i-123" is not a KMS instance id`}},
		{name: "target lane", function: "migrate", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_TARGETS": "me/cn-hangzhou=kst-1"},
			want: []string{`KMSMIG_TARGETS: lane "me/cn-hangzhou": want <account UID>/<region id>`}},
		{name: "function name", function: "poll", event: `{}`, alerts: 1, env: map[string]string{"KMSMIG_FUNCTION_ROTATE": "../rotate"},
			want: []string{`KMSMIG_FUNCTION_ROTATE: "../rotate" is not a Function Compute function name`}},
		{name: "seed region", function: "discover", event: `{"dryRun":true}`, alerts: 1, env: map[string]string{"KMSMIG_SEED_REGION": "attacker.example#"},
			want: []string{`KMSMIG_SEED_REGION: "attacker.example#" is not a region id`}},
		{name: "alert period 0", function: "rotate", event: `{}`, alerts: 0, env: map[string]string{"KMSMIG_ALERT_PERIOD": "0"},
			want: []string{`KMSMIG_ALERT_PERIOD: "0": want a duration of at least 1m`}},
		{name: "plain http logstore", function: "rotate", event: `{}`, alerts: 0, env: map[string]string{"KMSMIG_SLS_ENDPOINT": "http://cn-hangzhou.log.aliyuncs.com"},
			want: []string{`KMSMIG_SLS_ENDPOINT: "http://cn-hangzhou.log.aliyuncs.com" is spoken to over plain HTTP`}},
		{name: "webhook with a user", function: "rotate", event: `{}`, alerts: 0, env: map[string]string{"KMSMIG_ALERT_WEBHOOK": "https://u:p@hooks.example.com/x"},
			want: []string{"KMSMIG_ALERT_WEBHOOK: must be an http(s) URL with a host and no user"}},
		// Documents in the run-state store.
		{name: "current pointer that is not JSON", function: "migrate", event: `{}`, alerts: 1, stored: map[string]string{statekeys.Current: "not json"},
			want: []string{statekeys.Current}},
		{name: "plan that is not JSON", function: "migrate", event: `{"runId":"r1"}`, alerts: 1, stored: map[string]string{statekeys.Plan("r1"): "{"},
			want: []string{statekeys.Plan("r1")}},
		{name: "inventory that is not JSON", function: "migrate", event: `{"runId":"r1"}`, alerts: 1,
			stored: map[string]string{statekeys.Plan("r1"): hostilePlan, statekeys.Inventory("r1"): `{"runId":"r1","lanes":[`},
			want:   []string{"runstate: decode " + statekeys.Inventory("r1") + ": ", "the reference of verification, cannot be read (no rotation switched off)"}},
		{name: "inventory of the wrong shape", function: "migrate", event: `{"runId":"r1"}`, alerts: 1,
			stored: map[string]string{statekeys.Plan("r1"): hostilePlan, statekeys.Inventory("r1"): `{"runId":"r1","lanes":{"1111/cn-hangzhou":{}}}`},
			want:   []string{"runstate: decode " + statekeys.Inventory("r1") + ": json: cannot unmarshal object into Go struct field Inventory.lanes"}},
		{name: "batch state that is not JSON", function: "migrate", event: `{"runId":"r1"}`, alerts: 1,
			stored: map[string]string{statekeys.Plan("r1"): hostilePlan, statekeys.Batch("r1", "1111/cn-hangzhou/b0001"): `{"phase":`},
			want:   []string{statekeys.Batch("r1", "1111/cn-hangzhou/b0001")}},
		{name: "control that is not JSON", function: "migrate", event: `{"runId":"r1"}`, alerts: 1,
			stored: map[string]string{statekeys.Plan("r1"): hostilePlan, statekeys.Control("r1"): `{"paused":`},
			want:   []string{statekeys.Control("r1")}},
		{name: "campaign that is not JSON", function: "poll", event: `{}`, alerts: 1,
			stored: map[string]string{statekeys.Current: `{"runId":"r1"}`, statekeys.Plan("r1"): hostilePlan, statekeys.Campaign: `[`},
			want:   []string{statekeys.Campaign}},
		{name: "ledger entry that is not JSON", function: "rotate", event: `{"action":"sweep"}`, alerts: 1,
			stored: map[string]string{statekeys.Current: `{"runId":"r1"}`, statekeys.Ledger(estate.Lane{Account: "1111", Region: "cn-hangzhou"}, verdict.ResourceSecret, "../../current"): `{"status":`},
			want:   []string{statekeys.Ledger(estate.Lane{Account: "1111", Region: "cn-hangzhou"}, verdict.ResourceSecret, "../../current")}},
		{name: "inventory with a lane that is a path", function: "migrate", event: `{"runId":"r1"}`, alerts: 1,
			stored: map[string]string{statekeys.Plan("r1"): hostilePlan, statekeys.Inventory("r1"): `{"runId":"r1","lanes":[{"lane":"../../current"}]}`},
			want:   []string{"runstate: decode " + statekeys.Inventory("r1") + ": ", `lane "../../current"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			env := map[string]string{"KMSMIG_STATE": "dir:" + state}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			var before map[string]runstate.Version
			if tt.stored != nil {
				store, err := runstate.OpenDir(state)
				require.NoError(t, err)
				for k, v := range tt.stored {
					_, err := store.Create(t.Context(), k, []byte(v))
					require.NoError(t, err)
				}
				before = versions(t, store)
			}
			cloudCalls.Store(0)
			alerts.Store(0)
			out := &lines{}
			var stderr bytes.Buffer
			_, err := hostileHandler(tt.function, getenv(env), out, &stderr).Invoke(fcContext(t.Context(), "req-"+tt.function, "AK"), []byte(tt.event))
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			assert.NotContains(t, err.Error(), "hook-s3cret")
			assert.NotContains(t, stderr.String(), "hook-s3cret")

			if _, statErr := os.Stat(state); statErr == nil {
				store, err := runstate.OpenDir(state)
				require.NoError(t, err)
				assert.Equal(t, before, versions(t, store), "the run-state store is unchanged")
			} else {
				assert.Nil(t, before)
			}
			assert.Zero(t, cloudCalls.Load(), "no request reached KMS or Function Compute")
			assert.Equal(t, int64(tt.alerts), alerts.Load(), "alerts sent")
		})
	}
	kinds := map[string]int{}
	for _, tt := range tests {
		switch {
		case tt.stored != nil:
			kinds["stored documents"]++
		case strings.HasPrefix(tt.want[0], "KMSMIG_"):
			kinds["settings"]++
		default:
			kinds["events"]++
		}
	}
	t.Logf("%d hostile inputs refused: %d events, %d settings, %d stored documents", len(tests), kinds["events"], kinds["settings"], kinds["stored documents"])

	// The control: the same set-up with a good event does reach the
	// recorders, so the zeros above are not vacuous.
	env := map[string]string{"KMSMIG_STATE": "dir:" + t.TempDir(), "KMSMIG_REGIONS": "cn-hangzhou"}
	for k, v := range base {
		env[k] = v
	}
	cloudCalls.Store(0)
	// The recorder answers 403 to everything: the lane is reported
	// incomplete, whatever the outcome.
	_, _ = hostileHandler("discover", getenv(env), &lines{}, io.Discard).Invoke(fcContext(t.Context(), "req-good", "AK"), []byte(`{"dryRun":true}`))
	assert.Positive(t, cloudCalls.Load(), "a good event reaches KMS")
}

// hostilePlan is a run's plan with one batch pending in lane
// 1111/cn-hangzhou: what migrate would start, and switch rotation off for,
// were the documents beside it sound.
const hostilePlan = `{"runId":"r1","settings":{},"lanes":[{"lane":"1111/cn-hangzhou","batches":[{"id":"1111/cn-hangzhou/b0001",
"lane":"1111/cn-hangzhou","instanceId":"kst-hzz00001","seq":1,"secrets":["s1"],"secretsRotationOff":["s1"]}]}]}`

// hostileHandler is function's handler as Serve builds it.
func hostileHandler(function string, env func(string) string, out io.Writer, stderr io.Writer) interface {
	Invoke(context.Context, []byte) ([]byte, error)
} {
	switch function {
	case "discover":
		return fcruntime.Handler(wiring.Handler("discover", wiring.Discover, env, out, stderr))
	case "migrate":
		return fcruntime.Handler(wiring.Handler("migrate", wiring.Migrate, env, out, stderr))
	case "poll":
		return fcruntime.Handler(wiring.Handler("poll", wiring.Poll, env, out, stderr))
	}
	return fcruntime.Handler(wiring.Handler("rotate", wiring.Rotate, env, out, stderr))
}

// versions lists every object of store with its version (nil when empty),
// but the alerts' de-duplication entries (alerts/...).
func versions(t *testing.T, store runstate.Store) map[string]runstate.Version {
	t.Helper()
	keys, err := store.List(t.Context(), "")
	require.NoError(t, err)
	var out map[string]runstate.Version
	for _, k := range keys {
		if strings.HasPrefix(k, "alerts/") {
			continue
		}
		obj, err := store.Get(t.Context(), k)
		require.NoError(t, err)
		if out == nil {
			out = map[string]runstate.Version{}
		}
		out[k] = obj.Version
	}
	return out
}
