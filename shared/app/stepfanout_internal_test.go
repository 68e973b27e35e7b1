package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// The largest group event a coordinator can hand out (the bound's lanes,
// each of the longest account and region an event accepts, the longest
// run id) fits Function Compute's asynchronous payload: that is what
// makes MaxLanesPerInvocation safe for KMSMIG_STEP_LANES_PER_INVOCATION.
func TestLargestGroupEventFitsTheAsyncPayload(t *testing.T) {
	lanes := make([]estate.Lane, MaxLanesPerInvocation)
	for i := range lanes {
		account := fmt.Sprintf("%0*d", MaxAccountIDLen, i)
		region := "cn-" + strings.Repeat("x", MaxRegionIDLen-3)
		lanes[i] = estate.Lane{Account: account, Region: region}
	}
	runID := "r" + strings.Repeat("0", 62)
	require.NoError(t, ValidateRunID(runID))
	b, err := StepGroupPayload(runID, lanes)
	require.NoError(t, err)
	t.Logf("largest group event: %d bytes of %d", len(b), MaxAsyncPayload)
	assert.Less(t, len(b), MaxAsyncPayload)

	// The envelope is what a group decodes: the same lanes, in order.
	var ev StepEvent
	require.NoError(t, json.Unmarshal(b, &ev))
	got, err := parseLanes(ev.Lanes)
	require.NoError(t, err)
	assert.Equal(t, lanes, got)

	// One character more in any part and the event refuses the lane:
	// the bound above holds for every event a group accepts.
	_, err = laneLike(strings.Repeat("1", MaxAccountIDLen+1) + "/cn-hangzhou")
	assert.Error(t, err)
	_, err = laneLike("1111/cn-" + strings.Repeat("x", MaxRegionIDLen-2))
	assert.Error(t, err)
}

// A group event over the payload limit is refused before anything is
// invoked, saying which settings to change; a lane the group would refuse
// is refused by the coordinator already.
func TestGroupPayloadOverTheLimitIsRefused(t *testing.T) {
	require.NoError(t, payloadFits(make([]byte, MaxAsyncPayload), 1))
	err := payloadFits(make([]byte, MaxAsyncPayload+1), 1200)
	require.EqualError(t, err, fmt.Sprintf("the group event of 1200 lanes is %d bytes, over Function Compute's %d-byte asynchronous payload: lower KMSMIG_STEP_LANES_PER_INVOCATION or raise KMSMIG_FANOUT_INVOCATIONS", MaxAsyncPayload+1, MaxAsyncPayload))
	_, err = StepGroupPayload("r", []estate.Lane{{Account: "1111", Region: "cn-hangzhou"}, {Account: "1111", Region: "cn-hangzhou"}})
	require.ErrorContains(t, err, `event: lanes[1]: "1111/cn-hangzhou" is given twice`)
	_, err = StepGroupPayload("r", []estate.Lane{{Account: "me", Region: "cn-hangzhou"}})
	require.ErrorContains(t, err, `event: lanes[0]: "me/cn-hangzhou": want <account UID>/<region id>`)
}

func TestGroupSize(t *testing.T) {
	for _, tt := range []struct{ lanes, per, invocations, want int }{
		{12, 5, 10, 5},     // 3 groups
		{12, 5, 3, 5},      // exactly at the limit
		{12, 5, 2, 6},      // 3 groups would be too many: 2 of 6
		{1000, 1, 90, 12},  // ceil(1000/90)
		{1000, 1, 10, 100}, // the default
		{7, 0, 10, 7},      // no fan-out
		{7, 3, 0, 3},       // no limit
		{0, 3, 10, 3},
	} {
		t.Run(fmt.Sprintf("%d lanes, %d per, %d invocations", tt.lanes, tt.per, tt.invocations), func(t *testing.T) {
			got := GroupSize(tt.lanes, tt.per, tt.invocations)
			assert.Equal(t, tt.want, got)
			if tt.per > 0 && tt.invocations > 0 && tt.lanes > 0 {
				assert.LessOrEqual(t, len(GroupLanes(make([]estate.Lane, tt.lanes), got)), tt.invocations, "never more groups than invocations")
			}
		})
	}
}

// The groups of a fan-out partition the lanes: each lane in exactly one
// group, in plan order, no group over the size. A grouping that drops,
// repeats or reorders a lane fails here.
func TestGroupsPartitionTheLanes(t *testing.T) {
	for _, n := range []int{1, 4, 5, 6, 12, 99, 1000} {
		for _, per := range []int{1, 2, 5, 7, 1000} {
			for _, inv := range []int{1, 3, 10, 90} {
				lanes := make([]estate.Lane, n)
				for i := range lanes {
					lanes[i] = estate.Lane{Account: fmt.Sprint(1000 + i), Region: "cn-hangzhou"}
				}
				size := GroupSize(n, per, inv)
				groups := GroupLanes(lanes, size)
				var flat []estate.Lane
				for g, lanes := range groups {
					require.NotEmpty(t, lanes, "group %d empty", g)
					require.LessOrEqual(t, len(lanes), size, "group %d over the size", g)
					flat = append(flat, lanes...)
				}
				require.Equal(t, lanes, flat, "%d lanes, %d per, %d invocations: the groups must hold each lane once, in order", n, per, inv)
				require.LessOrEqual(t, len(groups), inv, "never more groups than invocations")
			}
		}
	}
}

func TestParseLanesRefusals(t *testing.T) {
	many := make([]string, MaxLanesPerInvocation+1)
	for i := range many {
		many[i] = fmt.Sprintf("%d/cn-hangzhou", 1000+i)
	}
	for _, tt := range []struct {
		name  string
		lanes []string
		want  string
	}{
		{"empty", []string{}, "event: lanes: empty"},
		{"too many", many, fmt.Sprintf("event: lanes: %d given, at most %d", MaxLanesPerInvocation+1, MaxLanesPerInvocation)},
		{"a path", []string{"1111/cn-hangzhou", "../cn-hangzhou"}, `event: lanes[1]: "../cn-hangzhou": want <account UID>/<region id>`},
		{"no region", []string{"1111"}, `event: lanes[0]: "1111": want`},
		{"upper case", []string{"1111/CN-HANGZHOU"}, `event: lanes[0]: "1111/CN-HANGZHOU": want`},
		{"twice", []string{"1111/cn-hangzhou", "2222/cn-hangzhou", "1111/cn-hangzhou"}, `event: lanes[2]: "1111/cn-hangzhou" is given twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseLanes(tt.lanes)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// The group event a coordinator sends is the golden one, byte for byte,
// and the functions' decoder reads it back as the same run and lanes.
func TestStepGroupEventGolden(t *testing.T) {
	golden, err := os.ReadFile("testdata/step-group-event.json")
	require.NoError(t, err)
	golden = bytes.TrimSpace(golden)
	lanes := []estate.Lane{{Account: "1111000011110001", Region: "cn-hangzhou"}, {Account: "1111000011110001", Region: "cn-shanghai"},
		{Account: "2222000022220002", Region: "ap-southeast-1"}}
	b, err := StepGroupPayload("run-20261130", lanes)
	require.NoError(t, err)
	assert.Equal(t, string(golden), string(b))
	ev, err := decodeAsProduction[StepEvent](golden)
	require.NoError(t, err)
	assert.Equal(t, StepEvent{RunID: "run-20261130", Lanes: []string{"1111000011110001/cn-hangzhou", "1111000011110001/cn-shanghai", "2222000022220002/ap-southeast-1"}}, ev)
	got, err := parseLanes(ev.Lanes)
	require.NoError(t, err)
	assert.Equal(t, lanes, got)
	enc, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.JSONEq(t, string(golden), string(enc), "round trip")
}
