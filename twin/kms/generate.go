package kms

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// GenerateOptions size a generated estate. Zero fields take the defaults
// in brackets.
type GenerateOptions struct {
	// Keys and Secrets are totals over the estate [200, 100].
	Keys, Secrets int
	// Regions is how many regions the estate spans, at most
	// len(GeneratedRegions) [2].
	Regions int
	// Accounts is how many accounts share the estate [2].
	Accounts int
	// Seed makes the estate: the same options give the same inventory.
	Seed uint64
	// Own gives every account its own instance in each region that has
	// one, shared with nobody (spec own=1), instead of the first account's
	// instances shared with the others: every lane then migrates into an
	// instance no other lane waits for.
	Own bool
}

// GeneratedRegions are the regions Generate draws from, in order.
var GeneratedRegions = []string{
	"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "cn-zhangjiakou", "cn-qingdao",
	"cn-hongkong", "ap-southeast-1", "ap-northeast-1", "eu-central-1", "us-west-1", "us-east-1",
}

var serviceProducts = []string{"oss", "rds", "ecs", "ebs", "nas", "polardb", "mongodb", "redis"}

// Generate builds a realistic estate for load and rehearsal runs. Keys and
// secrets are spread evenly over every account and region; roughly 4% are
// service keys, 3% keys with imported material, 3% pending deletion, 3%
// disabled, 15% keys and 40% of dynamic secrets with rotation on, 5%
// asymmetric keys, 40% of secrets under a CMK, 2% secret names duplicated
// across accounts, 5% of resources already migrated. The first account
// owns one instance per region, sized to fit every account's resources
// there with headroom and shared with every other account but the last
// (when there are three or more; with Own, every account owns one per
// region, shared with nobody); the last region (of three or more) has no
// instance; the first region also has an instance with a too-old image.
// The result always passes Validate.
func Generate(o GenerateOptions) *Inventory {
	if o.Keys == 0 {
		o.Keys = 200
	}
	if o.Secrets == 0 {
		o.Secrets = 100
	}
	if o.Regions <= 0 {
		o.Regions = 2
	}
	o.Regions = min(o.Regions, len(GeneratedRegions))
	if o.Accounts <= 0 {
		o.Accounts = 2
	}
	g := &generator{rnd: rand.New(rand.NewPCG(o.Seed, o.Seed^0x5bd1e995)), o: o}
	return g.run()
}

type generator struct {
	rnd *rand.Rand
	o   GenerateOptions
}

func (g *generator) uuid() string {
	a, b := g.rnd.Uint64(), g.rnd.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

func (g *generator) pct(p int) bool { return g.rnd.IntN(100) < p }

func (g *generator) date(from time.Time, days int) string {
	return from.Add(time.Duration(g.rnd.IntN(days*24)) * time.Hour).Format(time.RFC3339)
}

type laneGen struct {
	acct, region int
	ri           *RegionInventory
	services     map[string]bool
	cmks         []int // indexes of keys a secret may be encrypted with
}

func (g *generator) run() *Inventory {
	o := g.o
	start := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	inv := &Inventory{}
	for range o.Accounts {
		inv.Accounts = append(inv.Accounts, AccountInventory{
			ID:      fmt.Sprintf("%016d", 1_000_000_000_000_000+g.rnd.Int64N(8_999_999_999_999_999)),
			Regions: map[string]RegionInventory{},
		})
	}
	lanes := make([][]*laneGen, o.Accounts)
	for a := range o.Accounts {
		for r := range o.Regions {
			lanes[a] = append(lanes[a], &laneGen{acct: a, region: r, ri: &RegionInventory{}, services: map[string]bool{}})
		}
	}
	flat := make([]*laneGen, 0, o.Accounts*o.Regions)
	for r := range o.Regions {
		for a := range o.Accounts {
			flat = append(flat, lanes[a][r])
		}
	}
	hasInstance := func(r int) bool { return o.Regions < 3 || r < o.Regions-1 }
	shared := func(a int) bool { return o.Own || a == 0 || o.Accounts < 3 || a < o.Accounts-1 }
	// instOf is the instance lane (a, r) migrates into: the first
	// account's, or with Own its own.
	instOf := func(a, r int) string {
		if o.Own {
			return fmt.Sprintf("kst-gen%02d%04x%04x", r, a, o.Seed&0xffff)
		}
		return fmt.Sprintf("kst-gen%02d%04x", r, o.Seed&0xffff)
	}

	// Keys.
	offset := g.rnd.IntN(len(flat))
	for i := range o.Keys {
		l := flat[(offset+i)%len(flat)]
		k := KeyInventory{KeyID: g.uuid(), CreationDate: g.date(start, 1200)}
		roll := g.rnd.IntN(100)
		switch {
		case roll < 4:
			p := serviceProducts[g.rnd.IntN(len(serviceProducts))]
			if !l.services[p] {
				l.services[p] = true
				k.Aliases = []string{"alias/acs/" + p}
				k.Creator = strings.ToUpper(p[:1]) + p[1:] // the product creates it
				k.Description = "default service key of " + p
				break
			}
			fallthrough
		default:
			k.Description = fmt.Sprintf("key %d", i)
			if g.pct(60) {
				k.Aliases = []string{fmt.Sprintf("alias/app-%d", i)}
			}
			switch {
			case roll < 7:
				k.Origin = "EXTERNAL"
			case roll < 10:
				k.KeyState = "PendingDeletion"
				k.DeleteDate = g.date(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 30)
			case roll < 13:
				k.KeyState = "Disabled"
			case roll < 18:
				k.KeySpec, k.KeyUsage = "RSA_2048", "SIGN/VERIFY"
			case roll < 33:
				k.AutomaticRotation = "Enabled"
				k.RotationInterval = fmt.Sprintf("%ds", (7+g.rnd.IntN(359))*86400)
			default:
				l.cmks = append(l.cmks, len(l.ri.Keys))
				if g.pct(8) && hasInstance(l.region) && shared(l.acct) {
					k.DKMSInstanceID = instOf(l.acct, l.region)
				}
			}
			if g.pct(10) {
				k.ProtectionLevel = "HSM"
			}
		}
		if g.pct(50) {
			k.Tags = map[string]string{"env": []string{"prod", "test", "dev"}[g.rnd.IntN(3)], "team": fmt.Sprintf("team-%d", g.rnd.IntN(12))}
		}
		l.ri.Keys = append(l.ri.Keys, k)
	}

	// Secrets.
	offset = g.rnd.IntN(len(flat))
	for i := range o.Secrets {
		l := flat[(offset+i)%len(flat)]
		s := SecretInventory{SecretName: fmt.Sprintf("app-%d/secret", i), CreateTime: g.date(start, 1200), SecretData: fmt.Sprintf("generated-value-%d", i)}
		switch roll := g.rnd.IntN(100); {
		case roll < 15:
			s.SecretType = "Rds"
			s.ExtendedConfig = fmt.Sprintf(`{"SecretSubType":"SingleUser","DBInstanceId":"rm-gen%d"}`, i)
		case roll < 25:
			s.SecretType = "RAMCredentials"
		case roll < 30:
			s.SecretType = "ECS"
		}
		if s.SecretType != "" && g.pct(40) {
			s.AutomaticRotation = "Enabled"
			s.RotationInterval = fmt.Sprintf("%ds", (7+g.rnd.IntN(90))*86400)
		}
		if len(l.cmks) > 0 && g.pct(40) {
			k := &l.ri.Keys[l.cmks[g.rnd.IntN(len(l.cmks))]]
			s.EncryptionKeyID = k.KeyID
			if k.DKMSInstanceID != "" && s.AutomaticRotation == "" && g.pct(30) {
				s.DKMSInstanceID = k.DKMSInstanceID
			}
		} else if s.AutomaticRotation == "" && g.pct(4) && hasInstance(l.region) && shared(l.acct) {
			s.DKMSInstanceID = instOf(l.acct, l.region)
		}
		// Duplicate names: reuse a name another shared account holds in the
		// same region.
		if g.pct(2) && o.Accounts > 1 && shared(l.acct) && s.DKMSInstanceID == "" {
			other := lanes[(l.acct+1)%o.Accounts][l.region]
			if len(other.ri.Secrets) > 0 && shared(other.acct) {
				s.SecretName = other.ri.Secrets[g.rnd.IntN(len(other.ri.Secrets))].SecretName
				for _, mine := range l.ri.Secrets {
					if mine.SecretName == s.SecretName {
						s.SecretName = fmt.Sprintf("app-%d/secret", i)
					}
				}
			}
		}
		if g.pct(30) {
			s.Tags = map[string]string{"owner": fmt.Sprintf("team-%d", g.rnd.IntN(12))}
		}
		l.ri.Secrets = append(l.ri.Secrets, s)
	}

	// Instances, sized to fit with headroom: the first account's, shared
	// with the others, or with Own each account's.
	for r := range o.Regions {
		if !hasInstance(r) {
			continue
		}
		owners := []int{0}
		if o.Own {
			owners = make([]int, o.Accounts)
			for a := range owners {
				owners[a] = a
			}
		}
		for _, own := range owners {
			keys, secrets := 0, 0
			var sharedWith []string
			for a := range o.Accounts {
				if !shared(a) || o.Own && a != own {
					continue
				}
				if a != own {
					sharedWith = append(sharedWith, inv.Accounts[a].ID)
				}
				ri := lanes[a][r].ri
				keys += len(ri.Keys)
				secrets += len(ri.Secrets)
			}
			owner := lanes[own][r].ri
			owner.Instances = append(owner.Instances, InstanceInventory{
				KmsInstanceID: instOf(own, r),
				Name:          fmt.Sprintf("%s-main", GeneratedRegions[r]),
				Type:          "software",
				ImageVersion:  fmt.Sprintf("2.9.%d", g.rnd.IntN(4)),
				KeyQuota:      roundUp(keys*5/4+10, 100),
				SecretQuota:   roundUp(secrets*5/4+10, 100),
				KeysUsed:      g.rnd.IntN(5),
				StartDate:     "2024-06-01T00:00:00Z",
				ExpiresInDays: 180 + g.rnd.IntN(365),
				AutoRenewal:   true,
				SharedWith:    sharedWith,
			})
			if r == 0 && own == 0 {
				owner.Instances = append(owner.Instances, InstanceInventory{
					KmsInstanceID: fmt.Sprintf("kst-genold%04x", o.Seed&0xffff),
					Name:          "legacy-image",
					Type:          "software",
					ImageVersion:  "2.8.2",
					KeyQuota:      1000,
					SecretQuota:   100,
					ExpiresInDays: 90,
					SharedWith:    sharedWith,
				})
			}
		}
	}
	for a := range o.Accounts {
		for r := range o.Regions {
			inv.Accounts[a].Regions[GeneratedRegions[r]] = *lanes[a][r].ri
		}
	}
	return inv
}

func roundUp(n, unit int) int { return (n + unit - 1) / unit * unit }

// ParseGenerateSpec reads the generator options of an inventory argument
// "generate:keys=N,secrets=N,regions=R,accounts=A,seed=S,own=0|1" (the part after
// "generate:"; every field optional). Errors name the field.
func ParseGenerateSpec(spec string) (GenerateOptions, error) {
	var o GenerateOptions
	if strings.TrimSpace(spec) == "" {
		return o, nil
	}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			return o, fmt.Errorf("kms: generate: %q: want name=number", part)
		}
		if k != "seed" && n > math.MaxInt {
			return o, fmt.Errorf("kms: generate: %q: too large", part)
		}
		switch k {
		case "keys":
			o.Keys = int(n)
		case "secrets":
			o.Secrets = int(n)
		case "regions":
			if n == 0 || int(n) > len(GeneratedRegions) {
				return o, fmt.Errorf("kms: generate: regions=%d: must be 1 to %d", n, len(GeneratedRegions))
			}
			o.Regions = int(n)
		case "accounts":
			if n == 0 {
				return o, fmt.Errorf("kms: generate: accounts=0: need at least one")
			}
			o.Accounts = int(n)
		case "seed":
			o.Seed = n
		case "own":
			if n > 1 {
				return o, fmt.Errorf("kms: generate: own=%d: must be 0 (the first account's instances, shared) or 1 (each account its own)", n)
			}
			o.Own = n == 1
		default:
			return o, fmt.Errorf("kms: generate: unknown field %q (keys, secrets, regions, accounts, seed, own)", k)
		}
	}
	return o, nil
}
