package verdict

import (
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// spendQuota spends each target instance's free key and secret quota over
// the lanes that target it, in lane order (work is sorted), keys by ID then
// secrets by name: the plan's order. What does not fit is blocked. It
// returns the use of every instance some lane targets, by instance ID.
func spendQuota(work []*laneWork, dir directory) []InstanceUse {
	byInstance := map[string][]*laneWork{}
	var ids []string
	for _, w := range work {
		id := w.lf.InstanceID
		if id == "" {
			continue
		}
		if _, ok := byInstance[id]; !ok {
			ids = append(ids, id)
		}
		byInstance[id] = append(byInstance[id], w)
	}
	slices.Sort(ids)
	uses := make([]InstanceUse, 0, len(ids))
	for _, id := range ids {
		uses = append(uses, spendInstance(id, byInstance[id], dir[id]))
	}
	return uses
}

func spendInstance(id string, lanes []*laneWork, e *dirEntry) InstanceUse {
	u := InstanceUse{InstanceID: id, FreeKeys: e.freeKeys(), FreeSecrets: e.freeSecrets()}
	var laneNames []string
	for _, w := range lanes {
		u.Lanes = append(u.Lanes, w.li.Lane)
		laneNames = append(laneNames, w.li.Lane.String())
	}
	from := strings.Join(laneNames, ", ")

	wantKeys := 0
	for _, w := range lanes {
		wantKeys += countMigrating(w.keys)
	}
	overKeys := map[estate.Lane]map[string]bool{}
	for _, w := range lanes {
		for i := range w.keys {
			v := &w.keys[i]
			if !v.Verdict.WillMigrate() {
				continue
			}
			if u.Keys < u.FreeKeys {
				u.Keys++
				continue
			}
			u.OverflowKeys++
			if overKeys[w.li.Lane] == nil {
				overKeys[w.li.Lane] = map[string]bool{}
			}
			overKeys[w.li.Lane][v.ID] = true
			v.block(InstanceQuotaTooSmall, "Instance %s has %d free key slots (quota %d, used %d) but this run would migrate %d keys into it from lanes %s; raise its key quota by at least %d or migrate fewer keys.",
				id, u.FreeKeys, e.inst.KeyQuota, e.keyUsed, wantKeys, from, wantKeys-u.FreeKeys)
		}
	}

	// Secrets whose CMK did not fit cannot go either, and do not spend
	// secret quota.
	for _, w := range lanes {
		for i := range w.secrets {
			v := &w.secrets[i]
			if v.Verdict.WillMigrate() && overKeys[w.li.Lane][v.DependsOn] {
				v.block(SecretCMKBlocked, "Secret %q is encrypted with CMK %s, which cannot migrate (%s); resolve the CMK first, since a secret migrates only after its CMK.",
					v.ID, v.DependsOn, InstanceQuotaTooSmall)
			}
		}
	}
	wantSecrets := 0
	for _, w := range lanes {
		wantSecrets += countMigrating(w.secrets)
	}
	for _, w := range lanes {
		for i := range w.secrets {
			v := &w.secrets[i]
			if !v.Verdict.WillMigrate() {
				continue
			}
			if u.Secrets < u.FreeSecrets {
				u.Secrets++
				continue
			}
			u.OverflowSecrets++
			v.block(InstanceQuotaTooSmall, "Instance %s has %d free secret slots (quota %d, used %d) but this run would migrate %d secrets into it from lanes %s; raise its secret quota by at least %d or migrate fewer secrets.",
				id, u.FreeSecrets, e.inst.SecretQuota, e.secretUsed, wantSecrets, from, wantSecrets-u.FreeSecrets)
		}
	}
	return u
}

func countMigrating(vs []Verdict) int {
	n := 0
	for _, v := range vs {
		if v.Verdict.WillMigrate() {
			n++
		}
	}
	return n
}
