package approval

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/kmsmig/kmsmig/shared/plan"
)

// DigestVersion prefixes every digest, so that a change of the canonical
// form can never make an old approval match a new plan by accident.
const DigestVersion = "v1"

// canonicalBatch is one pending batch in the canonical form. The field
// order is the order of the struct (encoding/json keeps it).
type canonicalBatch struct {
	ID                 string   `json:"id"`
	Lane               string   `json:"lane"`
	InstanceID         string   `json:"instanceId"`
	Keys               []string `json:"keys"`
	Secrets            []string `json:"secrets"`
	KeysRotationOff    []string `json:"keysRotationOff"`
	SecretsRotationOff []string `json:"secretsRotationOff"`
}

// Pending returns the plan's pending batches: those whose status in
// statuses is absent, empty or pending (plan.Status.Frozen is false), in
// plan order.
func Pending(p *plan.Plan, statuses map[string]plan.Status) []plan.Batch {
	var out []plan.Batch
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			if !statuses[b.ID].Frozen() {
				out = append(out, b)
			}
		}
	}
	return out
}

// Canonical is the canonical form of the plan's pending batches, the bytes
// the digest is taken of. It is the compact JSON (encoding/json: no
// spaces, its escaping) of an array with one object per pending batch,
// ordered by lane (account, then region, byte-wise) and then by seq
// (numerically), each object holding, in this order: "id" (the batch
// id), "lane" (account/region), "instanceId" (the target instance), and
// "keys", "secrets", "keysRotationOff", "secretsRotationOff" (the
// resource ids, each list sorted byte-wise, [] when empty). It depends on
// nothing else of the plan (settings, exclusions, the order of lanes or of
// ids in the stored file, how the file was indented), so re-marshalling
// the plan leaves it unchanged, and any change to what a pending batch
// moves, where, or whose rotation it switches off changes it.
func Canonical(p *plan.Plan, statuses map[string]plan.Status) []byte {
	data, _ := json.Marshal(canonical(p, statuses)) // strings and slices only: cannot fail
	return data
}

func canonical(p *plan.Plan, statuses map[string]plan.Status) []canonicalBatch {
	pending := Pending(p, statuses)
	slices.SortFunc(pending, func(a, b plan.Batch) int {
		return cmp.Or(cmp.Compare(a.Lane.Account, b.Lane.Account), cmp.Compare(a.Lane.Region, b.Lane.Region), cmp.Compare(a.Seq, b.Seq),
			cmp.Compare(a.ID, b.ID))
	})
	out := make([]canonicalBatch, 0, len(pending))
	for _, b := range pending {
		out = append(out, canonicalBatch{ID: b.ID, Lane: b.Lane.String(), InstanceID: b.InstanceID,
			Keys: sorted(b.Keys), Secrets: sorted(b.Secrets), KeysRotationOff: sorted(b.KeysRotationOff), SecretsRotationOff: sorted(b.SecretsRotationOff)})
	}
	return out
}

// BatchDigests maps every pending batch's id to the hex SHA-256 of its
// object in the canonical form: what an approval covers batch by batch.
func BatchDigests(p *plan.Plan, statuses map[string]plan.Status) map[string]string {
	out := map[string]string{}
	for _, b := range canonical(p, statuses) {
		data, _ := json.Marshal(b)
		sum := sha256.Sum256(data)
		out[b.ID] = hex.EncodeToString(sum[:])
	}
	return out
}

// Digest is "v1:" followed by the hex SHA-256 of Canonical.
func Digest(p *plan.Plan, statuses map[string]plan.Status) string {
	sum := sha256.Sum256(Canonical(p, statuses))
	return DigestVersion + ":" + hex.EncodeToString(sum[:])
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}
