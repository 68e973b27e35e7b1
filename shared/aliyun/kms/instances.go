package kms

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// InstanceIDs lists the KMS 3.0 instances a lane's account can see in its
// region (owned or shared), with the owner account read from each ARN
// (acs:kms:<region>:<owner>:keystore/<id>).
func (c *Client) InstanceIDs(ctx context.Context, l estate.Lane) (map[string]string, error) {
	out := map[string]string{}
	err := paginate(func(n int32) (int, int, error) {
		var got, total int
		err := c.call(ctx, l.Account, l.Region, GroupInstanceRead, "ListKmsInstances", func(ctx context.Context, cl *kmssdk.Client) error {
			resp, err := cl.ListKmsInstancesWithContext(ctx, &kmssdk.ListKmsInstancesRequest{PageNumber: dara.Int32(n), PageSize: dara.Int32(pageSize)}, runtimeOptions())
			if err != nil {
				return err
			}
			b := resp.Body
			total = int(dara.Int64Value(b.TotalCount))
			if b.KmsInstances != nil {
				got = len(b.KmsInstances.KmsInstance)
				for _, in := range b.KmsInstances.KmsInstance {
					out[dara.StringValue(in.KmsInstanceId)] = ownerFromArn(dara.StringValue(in.KmsInstanceArn))
				}
			}
			return nil
		})
		return got, total, err
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list instances %s: %w", l, err)
	}
	return out, nil
}

func ownerFromArn(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) >= 5 {
		return parts[3]
	}
	return ""
}

// Instance describes an instance: GetKmsInstance for its kind, expiry and
// status, and GetKmsInstanceQuotaInfos for key and secret quota and usage.
//
// The public API does not report the instance image version, auto-renewal
// (a billing attribute) or the accounts it is shared with (a resource
// directory attribute). GetKmsInstance is therefore read through the
// generic signed call so that these fields are taken when the endpoint
// returns them (the offline twin does); otherwise ImageVersion stays empty
// (classification then reports the prerequisite as unverified), AutoRenew
// stays false and SharedWith empty (sharing is then inferred from which
// accounts can list the instance).
func (c *Client) Instance(ctx context.Context, l estate.Lane, id, owner string) (estate.Instance, error) {
	in := estate.Instance{ID: id, Region: l.Region, Owner: owner}
	err := c.call(ctx, l.Account, l.Region, GroupInstanceRead, "GetKmsInstance", func(ctx context.Context, cl *kmssdk.Client) error {
		body, err := cl.CallApiWithCtx(ctx, rpcParams("GetKmsInstance"), &openapiutil.OpenApiRequest{
			Query: map[string]*string{"KmsInstanceId": dara.String(id)},
		}, runtimeOptions())
		if err != nil {
			return err
		}
		b, _ := body["body"].(map[string]any)
		m, _ := b["KmsInstance"].(map[string]any)
		if m == nil {
			return fmt.Errorf("GetKmsInstance returned no KmsInstance")
		}
		in.Kind = estate.InstanceSoftware
		if pt := str(m["ProductType"]) + str(m["InstanceType"]); strings.Contains(strings.ToLower(pt), "hardware") || strings.Contains(strings.ToLower(pt), "hsm") {
			in.Kind = estate.InstanceHardware
		}
		in.ImageVersion = str(m["ImageVersion"])
		in.Status = str(m["Status"])
		in.Expires = parseTime(str(m["EndDate"]))
		in.AutoRenew, _ = m["AutoRenewal"].(bool)
		if o := str(m["OwnerId"]); o != "" {
			in.Owner = o
		}
		if sa, ok := m["SharedAccounts"].(map[string]any); ok {
			if list, ok := sa["SharedAccount"].([]any); ok {
				for _, a := range list {
					in.SharedWith = append(in.SharedWith, str(a))
				}
			}
		}
		in.KeyQuota = atoi(m["KeyNum"])
		in.SecretQuota = atoi(m["SecretNum"])
		return nil
	})
	if err != nil {
		return estate.Instance{}, fmt.Errorf("kms: get instance %s in %s: %w", id, l, err)
	}
	err = c.call(ctx, l.Account, l.Region, GroupInstanceRead, "GetKmsInstanceQuotaInfos", func(ctx context.Context, cl *kmssdk.Client) error {
		resp, err := cl.GetKmsInstanceQuotaInfosWithContext(ctx, &kmssdk.GetKmsInstanceQuotaInfosRequest{KmsInstanceId: dara.String(id)}, runtimeOptions())
		if err != nil {
			return err
		}
		for _, q := range resp.Body.KmsInstanceQuotaInfos {
			switch strings.ToUpper(dara.StringValue(q.ResourceType)) {
			case "KEY":
				in.KeyQuota, in.KeyUsed = int(dara.Int64Value(q.ResourceQuota)), int(dara.Int64Value(q.UsedQuantity))
			case "SECRET":
				in.SecretQuota, in.SecretUsed = int(dara.Int64Value(q.ResourceQuota)), int(dara.Int64Value(q.UsedQuantity))
			}
		}
		return nil
	})
	if err != nil {
		return estate.Instance{}, fmt.Errorf("kms: get quota of instance %s in %s: %w", id, l, err)
	}
	return in, nil
}

// rpcParams describes a KMS 2016-01-20 RPC action for the generic call.
func rpcParams(action string) *openapiutil.Params {
	return &openapiutil.Params{
		Action: dara.String(action), Version: dara.String("2016-01-20"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"),
		Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	default:
		return fmt.Sprint(t)
	}
}

func atoi(v any) int {
	switch t := v.(type) {
	case float64:
		return int(t)
	case int:
		return t
	case int64:
		return int(t)
	case string:
		n, _ := strconv.Atoi(t)
		return n
	}
	return 0
}
