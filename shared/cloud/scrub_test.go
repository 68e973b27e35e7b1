package cloud_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

func TestStripQueries(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Get "https://sts.aliyuncs.com/?AccessKeyId=LTAI5t&Action=AssumeRole&SecurityToken=CAISxyz&Signature=abc%3D": dial tcp: i/o timeout`,
			`Get "https://sts.aliyuncs.com/` + cloud.QueryRemoved + `": dial tcp: i/o timeout`},
		{"post http://127.0.0.1:9/x?a=1 and https://b.example/y?z=2#f done",
			"post http://127.0.0.1:9/x" + cloud.QueryRemoved + " and https://b.example/y" + cloud.QueryRemoved + " done"},
		{"no url here ?a=1", "no url here ?a=1"},
		{"https://kms.cn-hangzhou.aliyuncs.com/ refused", "https://kms.cn-hangzhou.aliyuncs.com/ refused"},
		{"", ""},
	} {
		assert.Equal(t, tc.want, cloud.StripQueries(tc.in), tc.in)
	}
}
