package app

import (
	"github.com/riskmon/riskmon/alerting/notify"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// CheckNotifiers builds the configuration's notification channels the
// way the service does, without connecting or sending anything, and
// returns every problem. One bad channel does not hide the next
// (notify.Build builds them all); each error is a yamlpos.Problem keyed
// by its channel (alerting.notify.dingtalk[1]) whose message starts with
// that key, and routing is checked once every channel builds.
func CheckNotifiers(cfg config.Config, _ *sensors.Registry) []error {
	ch := channels(cfg)
	var errs []error
	deps := notify.BuildDeps{}
	if ch.MQTT {
		c, err := alertClient(cfg)
		if err != nil {
			const key = "alerting.notify.mqtt"
			errs = append(errs, yamlpos.Problem{Key: key, Msg: key + ": " + err.Error()})
		}
		// Built, never connected.
		deps.Publisher = notify.NewPahoPublisher(c, 0)
	}
	if _, err := notify.Build(ch, deps); err != nil {
		errs = append(errs, keyed(err)...)
	}
	return errs
}
