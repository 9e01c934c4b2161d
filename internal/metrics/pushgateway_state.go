package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/runstate"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxPushgatewayScrape bounds the Pushgateway's /metrics read.
const maxPushgatewayScrape = 32 << 20

// PushedState rebuilds the run state's timestamps and counters from what the
// last run pushed to the Pushgateway (job's group): where no state file is
// kept (a CronJob Pod), the last success survives a failed run and the
// counters keep counting through the Pushgateway itself. Outcomes are not
// pushed; they live on the target Secrets (annotations, Events).
func PushedState(ctx context.Context, url, job string, client *http.Client) (*runstate.State, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: read the previous push from %s: %w; check rotation.metrics.pushgateway", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: read the previous push from %s: HTTP %d; check rotation.metrics.pushgateway", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxPushgatewayScrape))
	if err != nil {
		return nil, fmt.Errorf("metrics: the Pushgateway's /metrics at %s: %w", url, err)
	}
	st := runstate.New()
	st.Credentials = map[string]*runstate.Credential{}
	cred := func(name string) *runstate.Credential {
		k := strings.ToLower(name)
		if st.Credentials[k] == nil {
			st.Credentials[k] = &runstate.Credential{Name: name}
		}
		return st.Credentials[k]
	}
	each := func(family string, f func(labels map[string]string, v float64)) {
		mf := mfs[family]
		if mf == nil {
			return
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["job"] != job {
				continue
			}
			f(labels, value(m))
		}
	}
	ts := func(v float64) time.Time { return time.UnixMilli(int64(v * 1000)).UTC() }
	each("patrol_last_success_timestamp_seconds", func(l map[string]string, v float64) { cred(l["credential"]).LastSuccess = ts(v) })
	each("patrol_last_rotation_timestamp_seconds", func(l map[string]string, v float64) { cred(l["credential"]).LastRotation = ts(v) })
	each("patrol_rotations_total", func(l map[string]string, v float64) { cred(l["credential"]).Rotations = uint64(v) })
	each("patrol_failures_total", func(l map[string]string, v float64) {
		c := cred(l["credential"])
		if c.Failures == nil {
			c.Failures = map[string]uint64{}
		}
		c.Failures[l["reason"]] = uint64(v)
	})
	notice := func(n string) *runstate.Deliveries {
		if st.Notifications == nil {
			st.Notifications = map[string]*runstate.Deliveries{}
		}
		if st.Notifications[n] == nil {
			st.Notifications[n] = &runstate.Deliveries{}
		}
		return st.Notifications[n]
	}
	each("patrol_notifications_total", func(l map[string]string, v float64) { notice(l["notifier"]).Sent = uint64(v) })
	each("patrol_notification_failures_total", func(l map[string]string, v float64) { notice(l["notifier"]).Failed = uint64(v) })
	return st, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
