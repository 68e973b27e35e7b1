package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/twin/kms"
)

// exportInventory writes what discovery found in the twin's inventory
// format, so that a team can rehearse its own migration offline. No secret
// value is exported (discovery never reads one); keys and secrets get as
// many placeholder versions as they have. What the public API does not
// report is filled with a stated assumption, listed in the notes.
func exportInventory(inv *estate.Inventory, path string, notes io.Writer) error {
	out := &kms.Inventory{}
	accounts := map[string]*kms.AccountInventory{}
	account := func(id string) *kms.AccountInventory {
		if a, ok := accounts[id]; ok {
			return a
		}
		out.Accounts = append(out.Accounts, kms.AccountInventory{ID: id, Regions: map[string]kms.RegionInventory{}})
		a := &out.Accounts[len(out.Accounts)-1]
		accounts[id] = a
		return a
	}
	for _, li := range inv.Lanes {
		account(li.Lane.Account)
	}
	// Re-take the pointers: appending may have moved the slice.
	reindex := func() {
		for i := range out.Accounts {
			accounts[out.Accounts[i].ID] = &out.Accounts[i]
		}
	}
	reindex()
	assumedImages := 0
	seenInstances := map[string]bool{}
	for _, li := range inv.Lanes {
		for _, in := range li.Instances {
			owner := in.Owner
			if owner == "" {
				owner = li.Lane.Account
			}
			if seenInstances[in.ID] {
				continue
			}
			seenInstances[in.ID] = true
			before := len(out.Accounts)
			account(owner)
			if len(out.Accounts) != before {
				reindex()
			}
			img := in.ImageVersion
			if img == "" {
				img, assumedImages = "2.9.0", assumedImages+1
			}
			ii := kms.InstanceInventory{KmsInstanceID: in.ID, Type: string(in.Kind), ImageVersion: img,
				KeyQuota: in.KeyQuota, SecretQuota: in.SecretQuota, KeysUsed: in.KeyUsed, SecretsUsed: in.SecretUsed,
				AutoRenewal: in.AutoRenew, SharedWith: without(in.SharedWith, owner), Status: in.Status}
			if ii.Type == "" {
				ii.Type = string(estate.InstanceSoftware)
			}
			if !in.Expires.IsZero() {
				ii.EndDate = in.Expires.UTC().Format(time.RFC3339)
			} else {
				ii.ExpiresInDays = 365
			}
			a := accounts[owner]
			r := a.Regions[in.Region]
			r.Instances = append(r.Instances, ii)
			a.Regions[in.Region] = r
		}
	}
	for _, li := range inv.Lanes {
		a := accounts[li.Lane.Account]
		r := a.Regions[li.Lane.Region]
		for _, k := range li.Keys {
			ki := kms.KeyInventory{KeyID: k.ID, Aliases: k.Aliases, KeySpec: k.Spec, KeyUsage: k.Usage, ProtectionLevel: k.ProtectionLevel,
				Origin: string(k.Origin), KeyState: string(k.State), Creator: k.Creator, Tags: k.Tags, DKMSInstanceID: k.InstanceID,
				AutomaticRotation: "Disabled"}
			if k.Rotation.Enabled {
				ki.AutomaticRotation, ki.RotationInterval = "Enabled", strconv.FormatInt(int64(k.Rotation.Interval/time.Second), 10)+"s"
			}
			for i := 1; i <= k.VersionCount; i++ {
				ki.Versions = append(ki.Versions, kms.KeyVersionRecord{KeyVersionID: uuidOf(k.ID + "/" + strconv.Itoa(i))})
			}
			r.Keys = append(r.Keys, ki)
		}
		for _, s := range li.Secrets {
			si := kms.SecretInventory{SecretName: s.Name, SecretType: string(s.Type), Tags: s.Tags, DKMSInstanceID: s.InstanceID,
				AutomaticRotation: "Disabled"}
			if !s.UsesSystemKey() {
				si.EncryptionKeyID = s.EncryptionKeyID
			}
			if s.Rotation.Enabled {
				si.AutomaticRotation, si.RotationInterval = "Enabled", strconv.FormatInt(int64(s.Rotation.Interval/time.Second), 10)+"s"
			}
			for i := 1; i <= max(s.VersionCount, 1); i++ {
				v := kms.SecretVersionRecord{VersionID: "v" + strconv.Itoa(i)}
				if i == max(s.VersionCount, 1) {
					v.VersionStages = []string{"ACSCurrent"}
				} else if i == max(s.VersionCount, 1)-1 {
					v.VersionStages = []string{"ACSPrevious"}
				}
				si.Versions = append(si.Versions, v)
			}
			r.Secrets = append(r.Secrets, si)
		}
		a.Regions[li.Lane.Region] = r
	}
	sort.Slice(out.Accounts, func(i, j int) bool { return out.Accounts[i].ID < out.Accounts[j].ID })
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if _, err := kms.ParseInventory(data); err != nil {
		return fmt.Errorf("export: the discovered estate does not form a valid rehearsal inventory (fix it by hand after writing with care): %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(notes, "export: wrote %s (no secret values; rehearse it with: kmsmig rehearse --inventory %s)\n", path, path)
	if assumedImages > 0 {
		fmt.Fprintf(notes, "export: %d instance(s) did not report an image version; assumed 2.9.0: check them in the console and edit the file\n", assumedImages)
	}
	return nil
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// uuidOf derives a stable UUID-shaped id.
func uuidOf(s string) string {
	h := sha256.Sum256([]byte(s))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32]
}
