package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DingTalk sends alerts to a DingTalk group robot as markdown messages,
// signed with the robot's "加签" secret: the webhook URL gets
// timestamp=<ms> and sign=urlencode(base64(HMAC-SHA256(secret,
// timestamp+"\n"+secret))).
type DingTalk struct {
	// Webhook is the robot URL, https://oapi.dingtalk.com/robot/send?access_token=...
	Webhook string
	// Secret is the robot's signing secret (SEC...); unsigned when empty.
	Secret string
	// Client sends the requests; one with a 10s timeout when nil.
	Client *http.Client
	// Now reads the clock for the timestamp; time.Now when nil.
	Now func() time.Time
}

// Name implements Sink.
func (d *DingTalk) Name() string { return "dingtalk" }

// DingTalkSign returns the sign parameter for a timestamp in milliseconds,
// before URL encoding.
func DingTalkSign(secret string, timestampMS int64) string {
	ts := strconv.FormatInt(timestampMS, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type dingTalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

// DingTalk answers HTTP 200 with an error code in the body.
type dingTalkAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// dingTalkThrottled is the code of "send too fast" (20 messages a minute
// per robot): worth a retry.
const dingTalkThrottled = 130101

// Send implements Sink.
func (d *DingTalk) Send(ctx context.Context, a Alert) error {
	u, err := url.Parse(d.Webhook)
	if err != nil {
		return &DeliveryError{Sink: d.Name(), Err: fmt.Errorf("webhook URL does not parse")}
	}
	if d.Secret != "" {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		ts := now().UnixMilli()
		q := u.Query()
		q.Set("timestamp", strconv.FormatInt(ts, 10))
		q.Set("sign", DingTalkSign(d.Secret, ts))
		u.RawQuery = q.Encode()
	}
	var msg dingTalkMessage
	msg.MsgType = "markdown"
	msg.Markdown.Title = a.Title
	msg.Markdown.Text = markdown(a)
	body, err := json.Marshal(msg)
	if err != nil {
		return &DeliveryError{Sink: d.Name(), Err: err}
	}
	answer, err := post(ctx, d.Name(), client(d.Client), u.String(), nil, body)
	if err != nil {
		return err
	}
	var ans dingTalkAnswer
	if err := json.Unmarshal(answer, &ans); err != nil {
		return &DeliveryError{Sink: d.Name(), Status: http.StatusOK, Err: fmt.Errorf("answer is not JSON: %s", truncate(string(answer), 200))}
	}
	if ans.ErrCode != 0 {
		return &DeliveryError{Sink: d.Name(), Status: http.StatusOK, Retryable: ans.ErrCode == dingTalkThrottled,
			Err: fmt.Errorf("errcode %d: %s", ans.ErrCode, ans.ErrMsg)}
	}
	return nil
}

// markdown renders an alert for DingTalk's markdown subset.
func markdown(a Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### [%s] %s\n\n", strings.ToUpper(string(a.Severity)), a.Title)
	if a.Text != "" {
		b.WriteString(a.Text + "\n\n")
	}
	for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
		if a.Fields[k] != "" {
			fmt.Fprintf(&b, "- **%s**: %s\n", k, a.Fields[k])
		}
	}
	fmt.Fprintf(&b, "\n> key: %s\n", a.Key)
	return b.String()
}

var _ Sink = (*DingTalk)(nil)
