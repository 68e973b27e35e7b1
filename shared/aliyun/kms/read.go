package kms

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// pageSize is the largest page the API accepts.
const pageSize = 100

// Regions returns the regions where KMS is offered, as DescribeRegions
// lists them, asked through the endpoint of region via.
func (c *Client) Regions(ctx context.Context, account, via string) ([]string, error) {
	var out []string
	err := c.call(ctx, account, via, GroupInstanceRead, "DescribeRegions", func(ctx context.Context, cl *kmssdk.Client) error {
		resp, err := cl.DescribeRegionsWithOptions(runtimeOptions()) // the SDK has no context variant of this one
		if err != nil {
			return err
		}
		out = out[:0]
		if b := resp.Body; b != nil && b.Regions != nil {
			for _, r := range b.Regions.Region {
				out = append(out, dara.StringValue(r.RegionId))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kms: describe regions (%s via %s): %w", account, via, err)
	}
	slices.Sort(out)
	return out, nil
}

// paginate calls page(n) for n = 1, 2, ... until every item of the
// reported total has been seen or a page comes back short.
func paginate(page func(n int32) (got, total int, err error)) error {
	seen := 0
	for n := int32(1); ; n++ {
		got, total, err := page(n)
		if err != nil {
			return err
		}
		seen += got
		if got < pageSize || seen >= total {
			return nil
		}
	}
}

// KeyIDs lists the ids of every key of a lane.
func (c *Client) KeyIDs(ctx context.Context, l estate.Lane) ([]string, error) {
	var ids []string
	err := paginate(func(n int32) (int, int, error) {
		var got, total int
		err := c.call(ctx, l.Account, l.Region, GroupKeyRead, "ListKeys", func(ctx context.Context, cl *kmssdk.Client) error {
			resp, err := cl.ListKeysWithContext(ctx, &kmssdk.ListKeysRequest{PageNumber: dara.Int32(n), PageSize: dara.Int32(pageSize)}, runtimeOptions())
			if err != nil {
				return err
			}
			b := resp.Body
			total = int(dara.Int32Value(b.TotalCount))
			if b.Keys != nil {
				got = len(b.Keys.Key)
				for _, k := range b.Keys.Key {
					ids = append(ids, dara.StringValue(k.KeyId))
				}
			}
			return nil
		})
		return got, total, err
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list keys %s: %w", l, err)
	}
	return ids, nil
}

// Aliases returns every alias of a lane, by key id, in one paginated sweep
// (cheaper than ListAliasesByKeyId per key).
func (c *Client) Aliases(ctx context.Context, l estate.Lane) (map[string][]string, error) {
	out := map[string][]string{}
	err := paginate(func(n int32) (int, int, error) {
		var got, total int
		err := c.call(ctx, l.Account, l.Region, GroupKeyRead, "ListAliases", func(ctx context.Context, cl *kmssdk.Client) error {
			resp, err := cl.ListAliasesWithContext(ctx, &kmssdk.ListAliasesRequest{PageNumber: dara.Int32(n), PageSize: dara.Int32(pageSize)}, runtimeOptions())
			if err != nil {
				return err
			}
			b := resp.Body
			total = int(dara.Int32Value(b.TotalCount))
			if b.Aliases != nil {
				got = len(b.Aliases.Alias)
				for _, a := range b.Aliases.Alias {
					id := dara.StringValue(a.KeyId)
					out[id] = append(out[id], dara.StringValue(a.AliasName))
				}
			}
			return nil
		})
		return got, total, err
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list aliases %s: %w", l, err)
	}
	return out, nil
}

// Key describes one key: DescribeKey, its tags and its version count.
// Aliases are filled by the caller from Aliases. A missing key returns an
// error matching cloud.ErrNotFound.
func (c *Client) Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	k, err := c.KeyMetadata(ctx, l, id)
	if err != nil {
		return estate.Key{}, err
	}
	if k.Tags, err = c.keyTags(ctx, l, id); err != nil {
		return estate.Key{}, err
	}
	if k.VersionCount, err = c.keyVersionCount(ctx, l, id); err != nil {
		return estate.Key{}, err
	}
	return k, nil
}

// KeyMetadata describes one key with DescribeKey alone (one call): no tags
// and no version count. A missing key returns an error matching
// cloud.ErrNotFound.
func (c *Client) KeyMetadata(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	var k estate.Key
	err := c.call(ctx, l.Account, l.Region, GroupKeyRead, "DescribeKey", func(ctx context.Context, cl *kmssdk.Client) error {
		resp, err := cl.DescribeKeyWithContext(ctx, &kmssdk.DescribeKeyRequest{KeyId: dara.String(id)}, runtimeOptions())
		if err != nil {
			return err
		}
		m := resp.Body.KeyMetadata
		if m == nil {
			return fmt.Errorf("DescribeKey returned no KeyMetadata")
		}
		k = estate.Key{
			ID:              dara.StringValue(m.KeyId),
			Arn:             dara.StringValue(m.Arn),
			Origin:          estate.KeyOrigin(dara.StringValue(m.Origin)),
			Spec:            dara.StringValue(m.KeySpec),
			Usage:           dara.StringValue(m.KeyUsage),
			ProtectionLevel: dara.StringValue(m.ProtectionLevel),
			State:           estate.KeyState(dara.StringValue(m.KeyState)),
			Creator:         dara.StringValue(m.Creator),
			Rotation:        rotation(dara.StringValue(m.AutomaticRotation), dara.StringValue(m.RotationInterval)),
			NextRotation:    parseTime(dara.StringValue(m.NextRotationDate)),
			LastRotation:    parseTime(dara.StringValue(m.LastRotationDate)),
			InstanceID:      dara.StringValue(m.DKMSInstanceId),
		}
		return nil
	})
	if err != nil {
		return estate.Key{}, fmt.Errorf("kms: describe key %s in %s: %w", id, l, err)
	}
	return k, nil
}

func (c *Client) keyTags(ctx context.Context, l estate.Lane, id string) (map[string]string, error) {
	var tags map[string]string
	err := c.call(ctx, l.Account, l.Region, GroupTags, "ListResourceTags", func(ctx context.Context, cl *kmssdk.Client) error {
		resp, err := cl.ListResourceTagsWithContext(ctx, &kmssdk.ListResourceTagsRequest{KeyId: dara.String(id)}, runtimeOptions())
		if err != nil {
			return err
		}
		tags = nil
		if t := resp.Body.Tags; t != nil {
			for _, tag := range t.Tag {
				if tags == nil {
					tags = map[string]string{}
				}
				tags[dara.StringValue(tag.TagKey)] = dara.StringValue(tag.TagValue)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list tags of key %s in %s: %w", id, l, err)
	}
	return tags, nil
}

func (c *Client) keyVersionCount(ctx context.Context, l estate.Lane, id string) (int, error) {
	var count int
	err := c.call(ctx, l.Account, l.Region, GroupKeyRead, "ListKeyVersions", func(ctx context.Context, cl *kmssdk.Client) error {
		resp, err := cl.ListKeyVersionsWithContext(ctx, &kmssdk.ListKeyVersionsRequest{KeyId: dara.String(id), PageSize: dara.Int32(1)}, runtimeOptions())
		if err != nil {
			return err
		}
		count = int(dara.Int32Value(resp.Body.TotalCount))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("kms: list versions of key %s in %s: %w", id, l, err)
	}
	return count, nil
}

// SecretNames lists every secret of a lane with its type and tags (one
// paginated ListSecrets sweep with FetchTags).
func (c *Client) SecretNames(ctx context.Context, l estate.Lane) ([]estate.Secret, error) {
	var out []estate.Secret
	err := paginate(func(n int32) (int, int, error) {
		var got, total int
		err := c.call(ctx, l.Account, l.Region, GroupSecretRead, "ListSecrets", func(ctx context.Context, cl *kmssdk.Client) error {
			resp, err := cl.ListSecretsWithContext(ctx, &kmssdk.ListSecretsRequest{
				FetchTags: dara.String("true"), PageNumber: dara.Int32(n), PageSize: dara.Int32(pageSize),
			}, runtimeOptions())
			if err != nil {
				return err
			}
			b := resp.Body
			total = int(dara.Int32Value(b.TotalCount))
			if b.SecretList != nil {
				got = len(b.SecretList.Secret)
				for _, s := range b.SecretList.Secret {
					sec := estate.Secret{Name: dara.StringValue(s.SecretName), Type: estate.SecretType(dara.StringValue(s.SecretType))}
					if s.Tags != nil {
						for _, t := range s.Tags.Tag {
							if sec.Tags == nil {
								sec.Tags = map[string]string{}
							}
							sec.Tags[dara.StringValue(t.TagKey)] = dara.StringValue(t.TagValue)
						}
					}
					out = append(out, sec)
				}
			}
			return nil
		})
		return got, total, err
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list secrets %s: %w", l, err)
	}
	return out, nil
}

// SecretMetadata completes s (by Name) with DescribeSecret alone (one
// call): type, encryption key, rotation, instance id and tags; no versions
// nor stage labels. It never reads the secret's value. A missing secret
// returns an error matching cloud.ErrNotFound.
func (c *Client) SecretMetadata(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error) {
	err := c.call(ctx, l.Account, l.Region, GroupSecretRead, "DescribeSecret", func(ctx context.Context, cl *kmssdk.Client) error {
		resp, err := cl.DescribeSecretWithContext(ctx, &kmssdk.DescribeSecretRequest{SecretName: dara.String(s.Name), FetchTags: dara.String("true")}, runtimeOptions())
		if err != nil {
			return err
		}
		b := resp.Body
		if t := dara.StringValue(b.SecretType); t != "" {
			s.Type = estate.SecretType(t)
		}
		s.EncryptionKeyID = dara.StringValue(b.EncryptionKeyId)
		s.Rotation = rotation(dara.StringValue(b.AutomaticRotation), dara.StringValue(b.RotationInterval))
		s.InstanceID = dara.StringValue(b.DKMSInstanceId)
		if b.Tags != nil && len(b.Tags.Tag) > 0 {
			s.Tags = map[string]string{}
			for _, t := range b.Tags.Tag {
				s.Tags[dara.StringValue(t.TagKey)] = dara.StringValue(t.TagValue)
			}
		}
		return nil
	})
	if err != nil {
		return estate.Secret{}, fmt.Errorf("kms: describe secret %s in %s: %w", s.Name, l, err)
	}
	return s, nil
}

// Secret completes s (from SecretNames) with DescribeSecret and its
// versions and stage labels. It never reads the secret's value. A missing
// secret returns an error matching cloud.ErrNotFound.
func (c *Client) Secret(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error) {
	s, err := c.SecretMetadata(ctx, l, s)
	if err != nil {
		return estate.Secret{}, err
	}
	s.VersionCount, s.StageLabels = 0, nil
	stages := map[string]bool{}
	err = paginate(func(n int32) (int, int, error) {
		var got, total int
		err := c.call(ctx, l.Account, l.Region, GroupSecretRead, "ListSecretVersionIds", func(ctx context.Context, cl *kmssdk.Client) error {
			resp, err := cl.ListSecretVersionIdsWithContext(ctx, &kmssdk.ListSecretVersionIdsRequest{
				SecretName: dara.String(s.Name), IncludeDeprecated: dara.String("true"), PageNumber: dara.Int32(n), PageSize: dara.Int32(pageSize),
			}, runtimeOptions())
			if err != nil {
				return err
			}
			b := resp.Body
			total = int(dara.Int32Value(b.TotalCount))
			if b.VersionIds != nil {
				got = len(b.VersionIds.VersionId)
				for _, v := range b.VersionIds.VersionId {
					if v.VersionStages != nil {
						for _, st := range v.VersionStages.VersionStage {
							stages[dara.StringValue(st)] = true
						}
					}
				}
			}
			return nil
		})
		s.VersionCount += got
		return got, total, err
	})
	if err != nil {
		return estate.Secret{}, fmt.Errorf("kms: list versions of secret %s in %s: %w", s.Name, l, err)
	}
	for st := range stages {
		s.StageLabels = append(s.StageLabels, st)
	}
	slices.Sort(s.StageLabels)
	return s, nil
}

// rotation decodes the API's AutomaticRotation ("Enabled", "Disabled",
// "Suspended") and RotationInterval ("604800s").
func rotation(state, interval string) estate.Rotation {
	r := estate.Rotation{Enabled: state == "Enabled"}
	if secs, ok := strings.CutSuffix(interval, "s"); ok {
		if n, err := strconv.ParseInt(secs, 10, 64); err == nil {
			r.Interval = time.Duration(n) * time.Second
		}
	}
	return r
}

// parseTime reads the API's ISO 8601 times; unparseable or empty → zero.
func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
