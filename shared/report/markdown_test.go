package report

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
)

// unescapedPipe matches a cell separator: a pipe not escaped by a
// backslash.
var unescapedPipe = regexp.MustCompile(`(^|[^\\])\|`)

// checkTables asserts that every table of md is well formed and aligned:
// each line of a table has the same width and the same number of cells as
// its header, and the second line is the delimiter row.
func checkTables(t *testing.T, md string) int {
	t.Helper()
	tables := 0
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") {
			continue
		}
		tables++
		head := lines[i]
		cells := len(unescapedPipe.FindAllString(head, -1))
		require.Less(t, i+1, len(lines))
		assert.Regexp(t, `^\|( -+:? \|)+$`, lines[i+1], "delimiter row after %q", head)
		for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			assert.Equal(t, utf8.RuneCountInString(head), utf8.RuneCountInString(lines[i]), "line %d not aligned with its header:\n%s\n%s", i+1, head, lines[i])
			assert.Equal(t, cells, len(unescapedPipe.FindAllString(lines[i], -1)), "line %d: cell count", i+1)
		}
	}
	return tables
}

func TestMarkdownTablesAligned(t *testing.T) {
	n := checkTables(t, goldenReport(t).Markdown())
	assert.GreaterOrEqual(t, n, 10)
}

func TestMarkdownReadsSummaryFirst(t *testing.T) {
	md := goldenReport(t).Markdown()
	var order []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "# ") || strings.HasPrefix(line, "## ") {
			order = append(order, line)
		}
	}
	assert.Equal(t, []string{"# KMS migration report: run-20250301", "## Summary", "## Changes since the previous run (run-20250228)", "## Regions", "## Blocked resources",
		"## Warnings", "## Service keys", "## Batch plan", "## Terraform"}, order)
	assert.Less(t, strings.Index(md, "discovery is incomplete"), strings.Index(md, "## Summary"), "an incomplete estate says so before anything else")
}

func TestMarkdownEscapesNames(t *testing.T) {
	lane := estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	inv := estate.Inventory{RunID: "run-x", DiscoveredAt: discovered, Lanes: []estate.LaneInventory{{Lane: lane,
		Secrets: []estate.Secret{secret("a|b", ""), secret("tick`name", ""), secret("under_score*star", "")}}}}
	vs, p := run(t, inv, plan.DefaultSettings())
	md := Build(&inv, vs, p, Options{}).Markdown()
	checkTables(t, md)
	assert.Contains(t, md, "`a\\|b`")
	assert.Contains(t, md, "`` tick`name ``")
	assert.Contains(t, md, "`under_score*star`")
}

func TestMarkdownCapsListings(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	full := Build(&inv, vs, p, Options{})
	r := Build(&inv, vs, p, Options{MaxRows: 1, MaxIDs: 1, JSONName: "run.json"})
	md := r.Markdown()
	checkTables(t, md)

	assert.Contains(t, md, "… and 2 more (see run.json)", "regions: 3 lanes, 1 shown")
	assert.Contains(t, md, "… and 10 more (see run.json)", "terraform: 11 resources, 1 shown")
	assert.Contains(t, md, "`key-a1` +1", "batch rows show MaxIDs ids")
	assert.NotContains(t, md, "| `b/one` ")

	// The JSON is never capped: only the recorded limits differ.
	full.Limits, r.Limits = Limits{}, Limits{}
	assert.Equal(t, full, r)
}

// A large estate: 20,000 resources over 8 lanes. The JSON holds every ID;
// the Markdown stays small enough to read and to post.
func TestLargeEstate(t *testing.T) {
	inv := largeInventory(8, 1250, 1250)
	vs, p := run(t, inv, plan.DefaultSettings())
	r := Build(&inv, vs, p, Options{})

	js, err := json.Marshal(r)
	require.NoError(t, err)
	md := r.Markdown()
	t.Logf("20,000 resources: JSON %d bytes, Markdown %d bytes", len(js), len(md))
	assert.Less(t, len(md), 200_000)
	assert.Contains(t, md, "more (see report.json)")
	checkTables(t, md)

	assert.Equal(t, 20_000, r.Summary.Keys+r.Summary.Secrets)
	ids := 0
	for _, pl := range r.Plan.Lanes {
		for _, b := range pl.Batches {
			ids += len(b.Keys) + len(b.Secrets)
		}
	}
	assert.Equal(t, r.Summary.PlannedKeys+r.Summary.PlannedSecrets, ids)
	assert.Len(t, r.Terraform.Resources, ids, "every planned resource has its dkms_instance_id row")
	blocked := 0
	for _, g := range r.Blocked {
		blocked += len(g.Resources)
	}
	assert.Equal(t, r.Summary.Blocked, blocked)
	assert.Positive(t, blocked)
}

// largeInventory builds lanes of keys and secrets, one instance per lane;
// one key in twenty is disabled (its secrets then blocked), one in fifty
// is a service key, and every secret is under a CMK.
func largeInventory(lanes, keys, secrets int) estate.Inventory {
	inv := estate.Inventory{RunID: "run-large", DiscoveredAt: discovered}
	for l := range lanes {
		lane := estate.Lane{Account: fmt.Sprintf("%04d", 1000+l/2), Region: []string{"cn-hangzhou", "cn-shanghai"}[l%2]}
		li := estate.LaneInventory{Lane: lane, Instances: []estate.Instance{{
			ID: fmt.Sprintf("kst-%d", l), Region: lane.Region, Kind: estate.InstanceSoftware, ImageVersion: "2.10.1",
			KeyQuota: 100_000, SecretQuota: 100_000, Status: "Connected", AutoRenew: true, Owner: lane.Account}}}
		for k := range keys {
			li.Keys = append(li.Keys, key(fmt.Sprintf("key-%05d", k), func(k2 *estate.Key) {
				k2.Creator = lane.Account
				switch {
				case k%50 == 1:
					k2.Aliases, k2.Creator = []string{"alias/acs/ecs"}, "Ecs"
				case k%20 == 0:
					k2.State = estate.KeyDisabled
				case k%7 == 0:
					rotationOn(k2)
				}
			}))
		}
		for s := range secrets {
			li.Secrets = append(li.Secrets, secret(fmt.Sprintf("app/secret-%05d", s), fmt.Sprintf("key-%05d", s%keys)))
		}
		inv.Lanes = append(inv.Lanes, li)
	}
	return inv
}

func BenchmarkBuildAndMarkdown(b *testing.B) {
	inv := largeInventory(8, 1250, 1250)
	vs, p := run(b, inv, plan.DefaultSettings())
	b.ResetTimer()
	for range b.N {
		r := Build(&inv, vs, p, Options{})
		_ = r.Markdown()
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}
