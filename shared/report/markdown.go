package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// detailRunes bounds a free-text cell (a detail, an error message): the
// full sentence is in the JSON.
const detailRunes = 100

// Markdown renders the report for people: a title, the summary first,
// then what changed since the previous run, the per-region table, blocked resources, warnings, service keys,
// the batch plan and the Terraform guidance. Every listing shows at most
// Limits.MaxRows rows and then says how many more the JSON holds, so the
// text stays small for estates of tens of thousands of resources. It
// depends only on the Report's exported fields: a Report decoded from its
// JSON renders the same text.
func (r *Report) Markdown() string {
	m := &mdWriter{r: r, lim: r.Limits}
	if m.lim.MaxRows <= 0 {
		m.lim.MaxRows = DefaultMaxRows
	}
	if m.lim.MaxIDs <= 0 {
		m.lim.MaxIDs = DefaultMaxIDs
	}
	if m.lim.JSONName == "" {
		m.lim.JSONName = DefaultJSONName
	}
	m.title()
	m.summary()
	m.changes()
	m.regions()
	m.blocked()
	m.warnings()
	m.serviceKeys()
	m.plan()
	m.terraform()
	return strings.TrimRight(m.b.String(), "\n") + "\n"
}

type mdWriter struct {
	r   *Report
	lim Limits
	b   strings.Builder
}

func (m *mdWriter) p(format string, args ...any) {
	fmt.Fprintf(&m.b, format, args...)
	m.b.WriteString("\n\n")
}

func (m *mdWriter) h2(title string) { m.p("## %s", title) }
func (m *mdWriter) h3(title string) { m.p("### %s", title) }

func (m *mdWriter) table(t *table) {
	t.write(&m.b)
	m.b.WriteString("\n")
}

// more says how many rows a capped listing left out.
func (m *mdWriter) more(n int) {
	if n > 0 {
		m.p("… and %s more (see %s)", num(n), m.lim.JSONName)
	}
}

func (m *mdWriter) title() {
	r := m.r
	s := r.Summary
	m.p("# KMS migration report: %s", dash(r.RunID))
	var facts []string
	if !r.DiscoveredAt.IsZero() {
		facts = append(facts, "Discovered "+r.DiscoveredAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	facts = append(facts,
		fmt.Sprintf("%s %s (%s %s, %s %s)", num(s.Lanes), plural(s.Lanes, "lane"), num(s.Accounts), plural(s.Accounts, "account"), num(s.Regions), plural(s.Regions, "region")),
		num(s.Keys)+" "+plural(s.Keys, "key"), num(s.Secrets)+" "+plural(s.Secrets, "secret"))
	m.p("%s", strings.Join(facts, " · "))
	if n := len(s.IncompleteLanes); n > 0 {
		var names []string
		for _, il := range s.IncompleteLanes[:min(n, 10)] {
			names = append(names, fmt.Sprintf("%s (%s %s)", code(il.Lane().String()), num(len(il.Errors)), plural(len(il.Errors), "error")))
		}
		if n > 10 {
			names = append(names, fmt.Sprintf("and %d more", n-10))
		}
		m.p("> **Warning: discovery is incomplete in %s of %s %s:** %s. Keys or secrets may be missing there; run discovery again before trusting what is absent.",
			num(n), num(s.Lanes), plural(s.Lanes, "lane"), strings.Join(names, ", "))
	}
}

func (m *mdWriter) summary() {
	s := m.r.Summary
	m.h2("Summary")
	t := newTable("Item", "Count").numeric(1)
	if s.Verdicts != nil {
		t.add("Already migrated", num(s.Verdicts[verdict.AlreadyMigrated]))
		t.add("Migratable", num(s.Verdicts[verdict.Migratable]))
		t.add("Migratable once rotation is off", num(s.Verdicts[verdict.MigratableOnceRotationOff]))
		t.add("**Blocked: needs action**", "**"+num(s.Blocked)+"**")
		t.add("Service keys: no action needed", num(s.ServiceKeys))
	} else {
		t.add("Service keys: no action needed", num(s.ServiceKeys))
	}
	if m.r.Plan != nil {
		t.add("Batches planned", num(s.Batches))
		t.add("Keys planned", num(s.PlannedKeys))
		t.add("Secrets planned", num(s.PlannedSecrets))
		t.add("Rotation to switch off, then back on", num(s.RotationOff))
		t.add("Left out by the plan (filters, quota)", num(s.Excluded))
	}
	if c := m.r.Changes; c != nil {
		t.add("Changes since "+dash(c.PreviousRunID), num(len(c.Items)))
	}
	t.add("Warnings", num(s.Warnings))
	t.add("Incomplete lanes (discovery errors)", num(len(s.IncompleteLanes)))
	if s.Verdicts != nil || m.r.Plan != nil {
		t.add("Terraform: resources with "+code(attrInstanceID), num(s.TerraformResources))
	}
	m.table(t)
	if len(s.ByReason) > 0 {
		var parts []string
		for _, g := range m.r.Blocked {
			parts = append(parts, fmt.Sprintf("%s %s", code(string(g.Reason)), num(g.Count)))
		}
		m.p("Blocked by reason: %s.", strings.Join(parts, " · "))
	}
}

func (m *mdWriter) regions() {
	m.h2("Regions")
	if len(m.r.Regions) == 0 {
		m.p("No lane was discovered.")
		return
	}
	m.p("One row per account and region, as in the migration console. Service keys are not counted: they never migrate.")
	t := newTable("Account", "Region", "Keys not migrated", "Migrated keys", "Secrets not migrated", "Migrated secrets", "Target instance", "Task status", "Discovery").numeric(2, 3, 4, 5)
	rows := m.r.Regions
	shown := rows[:min(len(rows), m.lim.MaxRows)]
	for _, row := range shown {
		target := code(row.TargetInstance)
		if target == "" {
			target = "**none**"
			if row.NoTargetReason != "" {
				target += " (" + code(string(row.NoTargetReason)) + ")"
			}
		}
		disc := "complete"
		if row.DiscoveryErrors > 0 {
			disc = fmt.Sprintf("**incomplete** (%s %s)", num(row.DiscoveryErrors), plural(row.DiscoveryErrors, "error"))
		}
		t.add(code(row.Account), code(row.Region), num(row.KeysNotMigrated), num(row.KeysMigrated),
			num(row.SecretsNotMigrated), num(row.SecretsMigrated), target, taskStatus(row.Tasks), disc)
	}
	m.table(t)
	m.more(len(rows) - len(shown))
	m.taskAPI()
}

// taskAPI lists, per probed lane, what discovery's first contact with the
// migration task API found; nothing when no lane was probed.
func (m *mdWriter) taskAPI() {
	var lines []string
	rows := 0
	for _, row := range m.r.Regions {
		if row.TaskAPI == "" {
			continue
		}
		rows++
		if len(lines) < m.lim.MaxRows {
			words := row.TaskAPI
			if words != "available" {
				words = "**" + words + "**"
			}
			lines = append(lines, fmt.Sprintf("- %s: migration task API: %s", code(row.Lane().String()), words))
		}
	}
	if rows == 0 {
		return
	}
	m.p("%s", strings.Join(lines, "\n"))
	m.more(rows - len(lines))
}

// statusOrder is how task statuses read in a cell: finished first.
var statusOrder = []plan.Status{plan.StatusDone, plan.StatusFailed, plan.StatusRunning, plan.StatusSubmitted, plan.StatusPending}

func taskStatus(tasks map[plan.Status]int) string {
	if len(tasks) == 0 {
		return ""
	}
	var parts []string
	for _, st := range statusOrder {
		if n := tasks[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", num(n), st))
		}
	}
	for _, st := range sortedKeys(tasks) {
		if !slices.Contains(statusOrder, st) && tasks[st] > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", num(tasks[st]), text(string(st))))
		}
	}
	return strings.Join(parts, " · ")
}

func (m *mdWriter) blocked() {
	if m.r.Summary.Verdicts == nil {
		return
	}
	m.h2("Blocked resources")
	groups := m.r.Blocked
	if len(groups) == 0 {
		m.p("None: every key and secret either migrates, has migrated, or is a service key.")
		return
	}
	// Every reason gets a share of the rows, so that one large group
	// does not hide the others.
	per := max((m.lim.MaxRows+len(groups)-1)/len(groups), min(10, m.lim.MaxRows))
	for _, g := range groups {
		m.h3(fmt.Sprintf("%s · %s · %s", code(string(g.Reason)), g.Severity, num(g.Count)))
		action := g.Action
		if action == "" && len(g.Resources) > 0 {
			action = g.Resources[0].Detail
		}
		if action != "" {
			m.p("%s", text(action))
		}
		t := newTable("Account", "Region", "Resource", "Key ID / secret name", "Aliases / CMK")
		shown := g.Resources[:min(len(g.Resources), per)]
		for _, br := range shown {
			t.add(code(br.Account), code(br.Region), string(br.Resource), code(br.ID), dash(identity(br)))
		}
		m.table(t)
		m.more(len(g.Resources) - len(shown))
	}
}

// identity is what else names a blocked resource: a key's aliases, a
// secret's CMK.
func identity(br BlockedResource) string {
	if br.Resource == verdict.ResourceSecret {
		if br.EncryptionKeyID != "" {
			return "CMK " + code(br.EncryptionKeyID)
		}
		return ""
	}
	return codes(br.Aliases, 3)
}

// codes renders up to n values as code spans, then "+k".
func codes(vals []string, n int) string {
	var parts []string
	for _, v := range vals[:min(len(vals), n)] {
		parts = append(parts, code(v))
	}
	s := strings.Join(parts, ", ")
	if len(vals) > n {
		s += fmt.Sprintf(" +%s", num(len(vals)-n))
	}
	return s
}

func (m *mdWriter) warnings() {
	m.h2("Warnings")
	ws := m.r.Warnings
	if len(ws) == 0 {
		m.p("None.")
	} else {
		shown := ws[:min(len(ws), m.lim.MaxRows)]
		for _, w := range shown {
			where := []string{code(string(w.Reason))}
			if w.InstanceID != "" {
				where = append(where, "instance "+code(w.InstanceID))
			}
			if len(w.Lanes) > 0 {
				var names []string
				for _, l := range w.Lanes {
					names = append(names, l.Lane().String())
				}
				where = append(where, codes(names, 3))
			}
			fmt.Fprintf(&m.b, "- %s: %s\n", strings.Join(where, " · "), text(w.Message))
		}
		m.b.WriteString("\n")
		m.more(len(ws) - len(shown))
	}
	var n int
	for _, il := range m.r.Summary.IncompleteLanes {
		n += len(il.Errors)
	}
	if n == 0 {
		return
	}
	m.h3("Discovery errors")
	t := newTable("Account", "Region", "Operation", "Resource", "Code", "Message")
	shown := 0
	for _, il := range m.r.Summary.IncompleteLanes {
		for _, e := range il.Errors {
			if shown == m.lim.MaxRows {
				break
			}
			t.add(code(il.Account), code(il.Region), text(e.Op), code(e.Resource), code(e.Code), text(clip(e.Message, detailRunes)))
			shown++
		}
	}
	m.table(t)
	m.more(n - shown)
}

func (m *mdWriter) serviceKeys() {
	m.h2("Service keys")
	sks := m.r.ServiceKeys
	if len(sks) == 0 {
		m.p("None.")
		return
	}
	m.p("No action needed: cloud products created these keys for server-side encryption; they stay in KMS 1.0's default keys view.")
	t := newTable("Account", "Region", "Service keys").numeric(2)
	shown := sks[:min(len(sks), m.lim.MaxRows)]
	listed := 0
	for _, sk := range shown {
		t.add(code(sk.Account), code(sk.Region), num(sk.Count))
		listed += len(sk.Keys)
	}
	m.table(t)
	m.more(len(sks) - len(shown))
	if listed == 0 {
		return
	}
	t = newTable("Account", "Region", "Key ID", "Aliases", "Creator")
	total, n := 0, 0
	for _, sk := range sks {
		for _, k := range sk.Keys {
			total++
			if n < m.lim.MaxRows {
				t.add(code(sk.Account), code(sk.Region), code(k.ID), dash(codes(k.Aliases, 3)), dash(text(k.Creator)))
				n++
			}
		}
	}
	m.table(t)
	m.more(total - n)
}

func (m *mdWriter) plan() {
	ps := m.r.Plan
	if ps == nil {
		return
	}
	m.h2("Batch plan")
	st := ps.Settings
	limits := fmt.Sprintf("Each batch is one migration task of at most %s keys and %s secrets", num(st.MaxKeys), num(st.MaxSecrets))
	if st.MaxResources > 0 {
		limits += fmt.Sprintf(" (%s in total)", num(st.MaxResources))
	}
	limits += "; a lane's batches run in order, and a secret always comes after its CMK."
	if len(st.Include) > 0 {
		limits += " Include: " + codes(st.Include, len(st.Include)) + "."
	}
	if len(st.Exclude) > 0 {
		limits += " Exclude: " + codes(st.Exclude, len(st.Exclude)) + "."
	}
	m.p("%s", limits)
	if len(ps.Lanes) == 0 {
		m.p("No lane has anything to plan.")
		return
	}

	lt := newTable("Account", "Region", "Target instance", "Batches", "Keys", "Secrets", "Rotation off", "Already migrated", "Left out").numeric(3, 4, 5, 6, 7, 8)
	var batches []BatchRow
	var excluded []laneExclusion
	blockedOut := 0
	shownLanes := 0
	for _, pl := range ps.Lanes {
		var keys, secrets, rot, out int
		for _, bt := range pl.Batches {
			keys += bt.KeyCount
			secrets += bt.SecretCount
			rot += len(bt.KeysRotationOff) + len(bt.SecretsRotationOff)
		}
		batches = append(batches, pl.Batches...)
		for _, e := range pl.Excluded {
			if e.Planner {
				out++
				excluded = append(excluded, laneExclusion{pl.LaneRef, e})
			} else {
				blockedOut++
			}
		}
		if shownLanes < m.lim.MaxRows {
			target := code(pl.InstanceID)
			if target == "" {
				target = "**none**"
			}
			lt.add(code(pl.Account), code(pl.Region), target, num(len(pl.Batches)), num(keys), num(secrets), num(rot), num(pl.AlreadyMigrated), num(out))
			shownLanes++
		}
	}
	m.table(lt)
	m.more(len(ps.Lanes) - shownLanes)

	m.h3("Batches")
	if len(batches) == 0 {
		m.p("No batch: nothing in this plan migrates.")
	} else {
		m.p("Batch IDs are `<account>/<region>/b<seq>`. The JSON lists every ID; rotation must be switched off for the resources it lists under `keysRotationOff` and `secretsRotationOff` before the batch and back on after it.")
		bt := newTable("Batch", "Instance", "Status", "Keys", "Secrets", "Rotation off", "Key IDs", "Secret names").numeric(3, 4, 5)
		shown := batches[:min(len(batches), m.lim.MaxRows)]
		for _, b := range shown {
			bt.add(code(b.ID), code(b.InstanceID), string(b.Status), num(b.KeyCount), num(b.SecretCount),
				num(len(b.KeysRotationOff)+len(b.SecretsRotationOff)), dash(codes(b.Keys, m.lim.MaxIDs)), dash(codes(b.Secrets, m.lim.MaxIDs)))
		}
		m.table(bt)
		m.more(len(batches) - len(shown))
	}

	m.h3("Left out by the plan")
	if len(excluded) == 0 {
		m.p("Nothing beyond the blocked resources and service keys.")
	} else {
		et := newTable("Account", "Region", "Resource", "Key ID / secret name", "Reason", "Detail")
		shown := excluded[:min(len(excluded), m.lim.MaxRows)]
		for _, le := range shown {
			et.add(code(le.Account), code(le.Region), string(le.e.Resource), code(le.e.ID), code(string(le.e.Reason)), text(clip(le.e.Detail, detailRunes)))
		}
		m.table(et)
		m.more(len(excluded) - len(shown))
	}
	if blockedOut > 0 {
		m.p("The plan also leaves out %s blocked %s and service keys, listed above.", num(blockedOut), plural(blockedOut, "resource"))
	}
}

type laneExclusion struct {
	LaneRef
	e Exclusion
}

func (m *mdWriter) terraform() {
	tf := m.r.Terraform
	if tf == nil {
		if m.r.Summary.Verdicts != nil || m.r.Plan != nil {
			m.h2("Terraform")
			m.p("Nothing to change: no key or secret in this report migrates or has migrated.")
		}
		return
	}
	m.h2("Terraform")
	m.p("After migration each key and secret below carries `%s`. If Terraform manages it, `terraform plan` sees that attribute change and plans to **destroy and recreate** the resource: the key material or the secret's versions would be lost. Before the next `terraform plan` or `apply`, use one of the two fixes below.", attrInstanceID)

	m.h3("Fix 1: ignore the attributes")
	m.p("Add this lifecycle block to every migrated `%s`:", TerraformKey)
	m.hcl(hclLifecycle(TerraformKey, tf.KeyIgnoreChanges))
	m.p("and this one to every migrated `%s`. A secret's rotation attribute is `%s` and a secret has no `%s`; Terraform rejects names a resource does not have, so do not copy the key's list:", TerraformSecret, attrSecretRotation, tf.HardwareToSoftware)
	m.hcl(hclLifecycle(TerraformSecret, tf.SecretIgnoreChanges))
	fmt.Fprintf(&m.b, "- **Hardware to software:** for a key moving from hardware (HSM) to software protection (marked in the table below), add `%s`: `ignore_changes = [%s]`.\n",
		tf.HardwareToSoftware, strings.Join(append(slices.Clone(tf.KeyIgnoreChanges), tf.HardwareToSoftware), ", "))
	fmt.Fprintf(&m.b, "- **alicloud provider after %s:** drop `%s` from the lists: keys `[%s]`, secrets `[%s]`.\n",
		tf.DropInstanceIDAfter, attrInstanceID, strings.Join(withoutInstanceID(tf.KeyIgnoreChanges), ", "), strings.Join(withoutInstanceID(tf.SecretIgnoreChanges), ", "))
	m.b.WriteString("- **Rotation:** automatic rotation switched off for the migration must be switched back on afterwards; skipping it leaves rotation off for good.\n\n")

	m.h3("Fix 2: write the instance into the configuration")
	example := ""
	if len(tf.Resources) > 0 {
		example = tf.Resources[0].InstanceID
	}
	m.p("Set `%s` on each resource to its instance from the table below, for example:", attrInstanceID)
	m.hcl(hclInstanceID(TerraformKey, example))

	m.h3("Resources and their instances")
	t := newTable("Account", "Region", "Resource", "Key ID / secret name", "Aliases", "dkms_instance_id", "Batch", "Note")
	rs := tf.Resources
	shown := rs[:min(len(rs), m.lim.MaxRows)]
	for _, tr := range shown {
		var notes []string
		if tr.Migrated {
			notes = append(notes, "already migrated")
		}
		if tr.AddProtectionLevel {
			notes = append(notes, "hardware to software: add `"+tf.HardwareToSoftware+"`")
		}
		t.add(code(tr.Account), code(tr.Region), code(tr.Type), code(tr.ID), dash(codes(tr.Aliases, 2)), code(tr.InstanceID), dash(code(tr.BatchID)), strings.Join(notes, "; "))
	}
	m.table(t)
	m.more(len(rs) - len(shown))
}

func (m *mdWriter) hcl(src string) {
	m.b.WriteString("```hcl\n")
	m.b.WriteString(src)
	m.b.WriteString("```\n\n")
}

// num formats n with thousands separators: 20,000.
func num(n int) string {
	s := itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
