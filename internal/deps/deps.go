//go:build tools

// Package deps pins the SDK modules the project builds on before every one
// of them is imported by real code, so that go.mod and go.sum stay stable
// while several packages are written at once. Remove an import here once a
// real package imports it.
package deps

import (
	_ "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	_ "github.com/alibabacloud-go/kms-20160120/v3/client"
	_ "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	_ "github.com/aliyun/alibaba-cloud-sdk-go/services/sts"
	_ "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	_ "github.com/aliyun/aliyun-log-go-sdk"
	_ "github.com/aliyun/aliyun-log-go-sdk/producer"
	_ "github.com/aliyun/credentials-go/credentials"
	_ "github.com/aliyun/fc-runtime-go-sdk/fc"
	_ "github.com/aliyun/fc-runtime-go-sdk/fccontext"
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/pierrec/lz4/v4"
	_ "github.com/robfig/cron/v3"
	_ "github.com/stretchr/testify/require"
	_ "gopkg.in/yaml.v3"
)
