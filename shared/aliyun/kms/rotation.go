package kms

import (
	"context"
	"fmt"
	"strconv"
	"time"

	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// SetKeyRotation sets a key's automatic rotation policy. Enabling needs an
// interval of 7 to 365 days. Refusals come back as *cloud.APIError (a key
// under a running migration task matches cloud.ErrConflict).
func (c *Client) SetKeyRotation(ctx context.Context, l estate.Lane, keyID string, r estate.Rotation) error {
	req := &kmssdk.UpdateRotationPolicyRequest{KeyId: dara.String(keyID), EnableAutomaticRotation: dara.Bool(r.Enabled)}
	if r.Enabled {
		req.RotationInterval = dara.String(intervalString(r.Interval))
	}
	err := c.call(ctx, l.Account, l.Region, GroupKeyWrite, "UpdateRotationPolicy", func(ctx context.Context, cl *kmssdk.Client) error {
		_, err := cl.UpdateRotationPolicyWithContext(ctx, req, runtimeOptions())
		return err
	})
	if err != nil {
		return fmt.Errorf("kms: set rotation of key %s in %s to %s: %w", keyID, l, describeRotation(r), err)
	}
	return nil
}

// SetSecretRotation sets a secret's automatic rotation policy (dynamic
// secrets only). Errors as SetKeyRotation.
func (c *Client) SetSecretRotation(ctx context.Context, l estate.Lane, name string, r estate.Rotation) error {
	req := &kmssdk.UpdateSecretRotationPolicyRequest{SecretName: dara.String(name), EnableAutomaticRotation: dara.Bool(r.Enabled)}
	if r.Enabled {
		req.RotationInterval = dara.String(intervalString(r.Interval))
	}
	err := c.call(ctx, l.Account, l.Region, GroupSecretWrite, "UpdateSecretRotationPolicy", func(ctx context.Context, cl *kmssdk.Client) error {
		_, err := cl.UpdateSecretRotationPolicyWithContext(ctx, req, runtimeOptions())
		return err
	})
	if err != nil {
		return fmt.Errorf("kms: set rotation of secret %s in %s to %s: %w", name, l, describeRotation(r), err)
	}
	return nil
}

func intervalString(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

func describeRotation(r estate.Rotation) string {
	if !r.Enabled {
		return "off"
	}
	return "on every " + intervalString(r.Interval)
}
