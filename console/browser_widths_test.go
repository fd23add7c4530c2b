package console

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// longFleet is the demo fleet, plus a site whose name is longer still
// and a sensor whose location is a sentence, as real registries have.
func longFleet(t *testing.T) *sensors.Registry {
	t.Helper()
	cat := sensors.DefaultCatalog()
	demo, err := simulator.DemoFleet(1).Registry(cat)
	if err != nil {
		t.Fatal(err)
	}
	var sites []sensors.Site
	for _, s := range demo.Sites() {
		sites = append(sites, *s)
	}
	var sns []sensors.Sensor
	for _, s := range demo.Sensors() {
		sns = append(sns, sensors.Sensor{ID: s.ID, Site: s.Site, Kind: s.Kind, Gateway: s.Gateway, Location: s.Location, Role: s.Role, Setpoints: s.Setpoints})
	}
	sites = append(sites, sensors.Site{ID: "coal-02", Name: "Coal mine 02 (Shanxi Datong No. 7 Colliery), fully mechanised working face 8203 and its return airway", Sector: sensors.SectorCoal})
	sns = append(sns, sensors.Sensor{ID: "CH4-T2-8203-RETURN", Site: "coal-02", Kind: "ch4", Gateway: "gw-8203-underground-ring-network", Role: "T1",
		Location: "Return airway of working face 8203, 10 m outby the face end, roof side, next to the belt conveyor drive"})
	reg, err := sensors.NewRegistry(cat, sites, sns)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// engineMessage is what the engine writes in English; the Chinese board
// must never show it.
func engineMessage(e alerting.Event) string {
	return fmt.Sprintf("%s %s at %s: %g %s at or above %g %s (level %d %s)", e.Rule, e.Sensor, e.Site, e.Value, e.Unit, e.Setpoint, e.Unit, e.Level, e.Level.Color())
}

// TestBrowserWidths serves the demo fleet, with names longer still, to a
// real Chromium at the widths control rooms use, and checks at each: the
// board stays inside the window, every acknowledge button is on screen
// and clickable without scrolling sideways, two new alarms give two
// banners (red first) that stay until acknowledged, and the Chinese board
// carries no English engine message and no rule id. Screenshots of each
// width go to the artifacts.
func TestBrowserWidths(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("op-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuth(AuthOptions{Users: []User{{Name: "zhang.wei", PasswordHash: string(hash), Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := longFleet(t)
	life := lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{})
	h := NewHub(reg, HubOptions{Alerts: life})
	life.SetNext(h)
	srv := httptest.NewServer(Handler(h, Options{Auth: auth, Acker: life, Shelver: newFakeShelver(time.Now), ReadingsEvery: 100 * time.Millisecond}))
	t.Cleanup(srv.Close)
	ctx, consoleErrors := browser(t)
	t.Cleanup(func() { _ = chromedp.Do(ctx, chromedp.Navigate("about:blank")) })

	now := time.Now().UTC()
	var messages []string
	fire := func(id, rule, site, sensor string, kind sensors.KindID, unit string, lv sensors.Level, value, setpoint float64, ago time.Duration) {
		e := alerting.Event{AlertID: id, Rule: rule, Site: site, Sensor: sensor, Kind: kind, Unit: unit, Type: alerting.EventFired,
			Level: lv, Value: value, Setpoint: setpoint, At: now.Add(-ago), StartsAt: now.Add(-ago)}
		e.Message = engineMessage(e)
		messages = append(messages, e.Message)
		life.Emit(e)
	}
	// Standing alarms before the browser comes.
	fire("coal-red", "ch4_high", "coal-01", "CH4-101", "ch4", "%CH4", sensors.LevelRed, 1.62, 1.5, 20*time.Minute)
	fire("long-orange", "ch4_high", "coal-02", "CH4-T2-8203-RETURN", "ch4", "%CH4", sensors.LevelOrange, 1.12, 1.0, 12*time.Minute)
	fire("tank-yellow", "tank_temperature_high", "hz-01", "TT-103", "tank_temperature", "degC", sensors.LevelYellow, 46.5, 45, 7*time.Minute)
	fire("gw-orange", alerting.RuleGatewayOffline, "gas-01", "gw2", "", "", sensors.LevelOrange, 0, 0, 3*time.Minute)

	step(t, ctx, "log in",
		chromedp.EmulateViewport(1366, 768),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("login-user")),
		chromedp.SendKeys(chromedp.ID("login-user"), "zhang.wei"),
		chromedp.SendKeys(chromedp.ID("login-password"), "op-pass"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#conn.conn-live`)),
		chromedp.WaitReady(chromedp.CSS(`#board[data-loaded="true"]`)),
	)
	ruleID := regexp.MustCompile(`[a-z0-9]+_[a-z_]+`)
	english := regexp.MustCompile(`[A-Za-z]{3,}`)
	for i, width := range []int{1366, 1600, 1920, 2560, 1024} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			step(t, ctx, "resize", chromedp.EmulateViewport(int64(width), 900))
			// Two new alarms a moment apart: orange first, then red.
			orange, red := fmt.Sprintf("new-orange-%d", i), fmt.Sprintf("new-red-%d", i)
			fire(orange, "combustible_gas_high", "hz-01", "GT-204", "combustible_gas", "%LEL", sensors.LevelOrange, 27.5, 25, 0)
			fire(red, "combustible_gas_high", "hz-01", "GT-201", "combustible_gas", "%LEL", sensors.LevelRed, 56.9, 50, 0)
			step(t, ctx, "see both banners",
				chromedp.WaitVisible(chromedp.CSS(`#banners .banner[data-alert-id="`+orange+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#banners .banner[data-alert-id="`+red+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="`+red+`"] button.ack-btn`)),
			)
			// The standing red alarm nobody acknowledged keeps its banner
			// too; the new red comes first, and red before orange.
			order := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#banners .banner')).map(b => b.dataset.alertId)`)
			if len(order) < 3 || order[0] != red || order[1] != "coal-red" || order[2] != orange {
				t.Errorf("banners %v, want %s, coal-red, %s first", order, red, orange)
			}
			fit := eval[map[string]float64](t, ctx, `(() => {
				const panel = document.querySelector('.board-panel .table-scroll');
				let off = 0, covered = 0;
				for (const b of document.querySelectorAll('#board button.ack-btn')) {
					const r = b.getBoundingClientRect();
					if (r.left < 0 || r.right > document.documentElement.clientWidth || r.width === 0) off++;
					b.scrollIntoView({block: 'center', inline: 'nearest'});
					const q = b.getBoundingClientRect();
					const at = document.elementFromPoint(q.left + q.width / 2, q.top + q.height / 2);
					if (at !== b) covered++;
				}
				window.scrollTo(0, 0);
				return {off, covered, buttons: document.querySelectorAll('#board button.ack-btn').length,
					page: document.documentElement.scrollWidth, window: document.documentElement.clientWidth,
					board: panel.scrollWidth, boardBox: panel.clientWidth}; })()`)
			if fit["buttons"] < 6 || fit["off"] != 0 || fit["covered"] != 0 {
				t.Errorf("acknowledge buttons: %v of %v off screen sideways, %v covered", fit["off"], fit["buttons"], fit["covered"])
			}
			if fit["page"] > fit["window"] || fit["board"] > fit["boardBox"] {
				t.Errorf("sideways scrolling: page %v px in a %v px window, board %v px in a %v px panel", fit["page"], fit["window"], fit["board"], fit["boardBox"])
			}
			boardFits(t, ctx, fmt.Sprintf("%d px window", width))
			// The note field's placeholder is read whole, not cut to
			// "备注（可".
			cut := eval[[]string](t, ctx, `(() => {
				const ctx2 = document.createElement('canvas').getContext('2d');
				const out = [];
				for (const i of document.querySelectorAll('#board input.ack-comment')) {
					if (!i.offsetParent) continue;
					const cs = getComputedStyle(i);
					ctx2.font = cs.font;
					const room = i.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
					if (ctx2.measureText(i.placeholder).width > room + 0.5) out.push(i.placeholder + ' in ' + room + ' px');
				}
				return out; })()`)
			if len(cut) > 0 {
				t.Errorf("note placeholders cut: %v", cut)
			}
			// The row says where, what, live value, peak and setpoint, since when.
			row := eval[string](t, ctx, `document.querySelector('#board tr[data-id="`+red+`"]').innerText`)
			for _, want := range []string{"Tank farm 01", "GT-201", "T-101 dike, north", "可燃气体高限报警", "红色", "二级报警 (≥50 %LEL)", "56.9 %LEL", "峰值 56.9", "设定 50", "核实现场浓度"} {
				if !strings.Contains(row, want) {
					t.Errorf("row of the red alarm lacks %q:\n%s", want, row)
				}
			}
			// What the Chinese board says of each alarm: no English
			// engine message, no rule id, no English word.
			texts := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#board td.c-level, #board td.c-what')).map(td => td.innerText + '\n' + td.title)`)
			banners := eval[string](t, ctx, `document.getElementById('banners').innerText`)
			for _, s := range append(texts, banners) {
				for _, m := range messages {
					if strings.Contains(s, m) {
						t.Errorf("the board shows the engine's message %q", m)
					}
				}
				if id := ruleID.FindString(s); id != "" {
					t.Errorf("the board shows rule id %q in %q", id, s)
				}
			}
			for _, s := range texts {
				for _, w := range english.FindAllString(s, -1) {
					if w != "LEL" && w != "VOL" {
						t.Errorf("English %q in a Chinese cell: %q", w, s)
					}
				}
			}
			time.Sleep(700 * time.Millisecond) // let the pulses settle
			shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			saveArtifact(t, fmt.Sprintf("console-width-%d.png", width), shot)

			// Acknowledging the red alarm from its row takes its banner
			// away; the orange one stays until it is acknowledged too.
			step(t, ctx, "acknowledge the red alarm",
				clickAgain(`#board tr[data-id="`+red+`"] button.ack-btn`),
				chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="`+red+`"][data-acknowledged="true"]`)),
				chromedp.WaitNotPresent(chromedp.CSS(`#banners .banner[data-alert-id="`+red+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#banners .banner[data-alert-id="`+orange+`"]`)),
			)
			step(t, ctx, "acknowledge the orange alarm",
				clickAgain(`#board tr[data-id="`+orange+`"] button.ack-btn`),
				chromedp.WaitNotPresent(chromedp.CSS(`#banners .banner[data-alert-id="`+orange+`"]`)),
			)
		})
	}
	var errs []string
	for _, e := range consoleErrors() {
		if strings.Contains(e, "status of 401") && strings.Contains(e, "/api/v1/me") {
			continue // who am I, before logging in
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		t.Errorf("JavaScript console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserSoundRepeats: a red alarm nobody acknowledged keeps
// sounding; silencing quiets it on this console until a new alarm comes;
// acknowledging ends it.
func TestBrowserSoundRepeats(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("op-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuth(AuthOptions{Users: []User{{Name: "wang", PasswordHash: string(hash), Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	life := lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{})
	h := NewHub(testRegistry(t), HubOptions{Alerts: life})
	life.SetNext(h)
	srv := httptest.NewServer(Handler(h, Options{Auth: auth, Acker: life}))
	t.Cleanup(srv.Close)
	ctx, _ := browser(t)
	t.Cleanup(func() { _ = chromedp.Do(ctx, chromedp.Navigate("about:blank")) })
	step(t, ctx, "open the console", chromedp.EmulateViewport(1366, 768), chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-user")))
	// A console may repeat faster than the default 10 s; the test does.
	eval[bool](t, ctx, `(localStorage.setItem('riskmon.sound.repeat_ms', '700'), true)`)
	step(t, ctx, "log in",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("login-user")),
		chromedp.SendKeys(chromedp.ID("login-user"), "wang"),
		chromedp.SendKeys(chromedp.ID("login-password"), "op-pass"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitReady(chromedp.CSS(`#board[data-loaded="true"]`)),
	)
	beeps := func() int { return eval[int](t, ctx, `Number(document.body.dataset.beeps || 0)`) }
	now := time.Now().UTC()
	red := ev("red", alerting.EventFired, sensors.LevelRed, "plant-a", "gas-2", 0)
	red.At, red.StartsAt = now, now
	life.Emit(red)
	waitJS(t, ctx, "the red alarm sounds again and again", `Number(document.body.dataset.beeps || 0) >= 3`)
	step(t, ctx, "silence it", chromedp.Click(chromedp.ID("silence")), chromedp.WaitNotVisible(chromedp.ID("silence")))
	quiet := beeps()
	time.Sleep(2 * time.Second) // nearly three repeat periods
	if n := beeps(); n != quiet {
		t.Errorf("silenced, yet it sounded %d more times", n-quiet)
	}
	orange := ev("orange", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
	orange.At, orange.StartsAt = now, now
	life.Emit(orange)
	waitJS(t, ctx, "a new alarm sounds despite the silence", fmt.Sprintf(`Number(document.body.dataset.beeps || 0) >= %d`, quiet+2))
	step(t, ctx, "acknowledge both",
		clickAgain(`#board tr[data-id="red"] button.ack-btn`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="red"][data-acknowledged="true"]`)),
		clickAgain(`#board tr[data-id="orange"] button.ack-btn`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="orange"][data-acknowledged="true"]`)),
	)
	time.Sleep(800 * time.Millisecond) // a tick that had started may still end
	done := beeps()
	time.Sleep(2 * time.Second)
	if n := beeps(); n != done {
		t.Errorf("acknowledged, yet it sounded %d more times", n-done)
	}
}
