package sdkerr

import (
	"encoding/json"
	"errors"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

// Convert returns err as *cloud.APIError for service and action: the HTTP
// status, the provider's code, message and request id where the SDK error
// carries them. An error without status or code (connection refused,
// timeout) gets status 0 and code NetworkError, which cloud classifies as
// transient. An *cloud.APIError is returned unchanged; nil stays nil.
func Convert(service, action string, err error) error {
	if err == nil {
		return nil
	}
	var ae *cloud.APIError
	if errors.As(err, &ae) {
		return err
	}
	out := &cloud.APIError{Service: service, Action: action}
	type sdkErr interface {
		GetStatusCode() *int
		GetCode() *string
		GetRequestId() *string
		GetMessage() *string
	}
	var te *tea.SDKError
	var se sdkErr
	var de *dara.SDKError
	switch {
	case errors.As(err, &te):
		// The generated clients convert every refusal to *tea.SDKError;
		// Data holds the provider's JSON error body.
		out.Status, out.Code, out.Message = tea.IntValue(te.StatusCode), tea.StringValue(te.Code), tea.StringValue(te.Message)
		var body struct{ Message, RequestId string }
		if json.Unmarshal([]byte(tea.StringValue(te.Data)), &body) == nil && body.Message != "" {
			out.Message, out.RequestID = body.Message, body.RequestId
		}
	case errors.As(err, &se):
		out.Status, out.Code = dara.IntValue(se.GetStatusCode()), dara.StringValue(se.GetCode())
		out.RequestID, out.Message = dara.StringValue(se.GetRequestId()), dara.StringValue(se.GetMessage())
	case errors.As(err, &de):
		out.Status, out.Code, out.Message = dara.IntValue(de.StatusCode), dara.StringValue(de.Code), dara.StringValue(de.Message)
	default:
		out.Message = err.Error()
	}
	if out.Status == 0 && out.Code == "" {
		out.Code = "NetworkError"
	}
	// Error texts may hold signed request URLs (credentials-go puts the
	// STS request in its errors): their queries carry credentials.
	out.Message = cloud.StripQueries(out.Message)
	return out
}
