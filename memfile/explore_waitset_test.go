//go:build shmxexplore

package memfile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shmx/shmx/futex"
	sw "github.com/shmx/shmx/internal/word"
)

// waitSetModel: process P sends msgs messages on a ring (blocking Send),
// then sets the auto-reset event ev and the auto-reset event ev2. Process
// W watches the ring (receive), ev and ev2 with one WaitSet, whose loop
// runs as a simulated goroutine of W; W's user goroutine sleeps until a
// notification (on the Watchers' note words, standing in for their
// channels), then drains the ring with TryRecv and takes ev with TryWait,
// until it has every message and ev; it never takes ev2. Process Q blocks
// in ev2.Wait: ev2's only Set may wake the WaitSet's loop instead, which
// must pass it on.
//
// Invariants: whenever no goroutine can run and P lives, the user is not asleep with
// a message ready at the ring's head or ev set and no notification
// pending (a lost notification), and Q is not asleep in Wait with ev2 set
// (a wake-up the set kept); each message arrives once, in order; with
// nobody killed every message and both events arrive. Kills: P killed
// mid-claim leaves a dead claim at the head, which the loop must repair
// (a slice), so that later messages (none here) could pass; W or Q killed
// end their part.
func waitSetModel(msgs int) model {
	return model{name: fmt.Sprintf("WaitSet ring+events %d", msgs), procs: 3, killsMayStall: true, maxSteps: 20000, share: 4, build: func(s *sw.Sim) {
		_, b, r := modelRing(16, 2)
		var ev, ev2 Event
		p, w, q := s.Process(), s.Process(), s.Process()
		startLoop = func(f func()) { s.Go(w, f) }
		ws := NewWaitSet()
		rw, err1 := ws.AddRecv(r)
		ew, err2 := ws.AddEvent(&ev)
		_, err3 := ws.AddEvent(&ev2)
		if err1 != nil || err2 != nil || err3 != nil {
			panic(fmt.Sprint(err1, err2, err3))
		}
		startLoop = func(f func()) { go f() }
		fail := ""
		got, gotEv, qDone, userDone := 0, false, false, false
		var waitNotes [2]uint32
		userAsleep, qAsleep := false, false
		s.Go(p, func() {
			pr, _ := RingAt(b)
			ev2.Set()
			for i := range msgs {
				if err := pr.Send(context.Background(), []byte{byte(i)}); err != nil {
					panic(err)
				}
			}
			ev.Set()
		})
		s.Go(q, func() {
			qAsleep = true
			if err := ev2.Wait(context.Background()); err != nil {
				panic(err)
			}
			qAsleep, qDone = false, true
		})
		s.Go(w, func() {
			buf := make([]byte, 16)
			var watch [2]futex.Watch
			for !(gotEv && got == msgs) {
				n1, n2 := sw.LoadUint32(&rw.notes), sw.LoadUint32(&ew.notes)
				for {
					n, ok := r.TryRecv(buf)
					if !ok {
						break
					}
					if n != 1 || int(buf[0]) != got {
						fail = fmt.Sprintf("message %d arrived as %v", got, buf[:n])
					}
					got++
				}
				if ev.TryWait() {
					gotEv = true
				}
				if gotEv && got == msgs {
					break
				}
				watch[0].Set(&rw.notes, n1)
				watch[1].Set(&ew.notes, n2)
				waitNotes = [2]uint32{n1, n2}
				userAsleep = true
				sw.WaitAny(watch[:], time.Hour)
				userAsleep = false
			}
			userDone = true
			// Keep the set (and its registration with ev2) until Q has
			// its signal: a Set the set kept would leave Q asleep.
			for !qDone && !q.Dead {
				sw.Sleep(time.Millisecond)
			}
			ws.closeAsync() // the loop ends (Close would wait on a channel)
		})
		s.Check(func() string { return fail })
		s.Idle(func() string {
			// (A P killed between a commit or Set and its wake-up leaves
			// the loop asleep until its slice ends, as any sleeper.)
			if userAsleep && !w.Dead && !p.Dead && rw.notes == waitNotes[0] && ew.notes == waitNotes[1] {
				if r.ready(true) {
					return "a message is ready at the ring's head, the WaitSet's user sleeps and no notification is pending"
				}
				if ev.IsSet() {
					return "ev is set, the WaitSet's user sleeps and no notification is pending"
				}
			}
			// (A W killed after ev2's Set woke its loop leaves Q to its
			// slice, as any woken waiter that dies.)
			if qAsleep && !q.Dead && !p.Dead && !w.Dead && ev2.IsSet() {
				return "ev2 is set and Q sleeps in Wait: the WaitSet kept the wake-up"
			}
			return ""
		})
		s.Final(func() string {
			if p.Dead || w.Dead {
				return ""
			}
			if !userDone || got != msgs || !gotEv {
				return fmt.Sprintf("the user got %d of %d messages, ev %v", got, msgs, gotEv)
			}
			if !q.Dead && !qDone {
				return "Q never returned from ev2.Wait"
			}
			return ""
		})
	}}
}

// The WaitSet models run on a quarter of the schedules (25,000 in CI):
// their schedules are long (a loop goroutine re-arms after every step of
// the others), and a quarter already took both bugs below within 100.
func TestExploreWaitSet(t *testing.T) {
	explore(t, waitSetModel(3))
}

// waitSetPingPongModel: W's user sets req and waits for resp through a
// WaitSet (the loop a simulated goroutine of W), rounds times; P waits
// for req with Wait and sets resp. Invariant: whenever nothing can run
// and P lives, the user is not asleep with resp set and no notification
// pending; with nobody killed every round completes. A Set that finds
// nobody asleep (the loop between two sleeps) recounts the waiters and
// drops the set's registration: the set must register again before it
// sleeps also when resp is set, or the next Set, finding no waiter,
// wakes nobody (TestWaitSetPingPong found that across processes).
func waitSetPingPongModel(rounds int) model {
	return model{name: fmt.Sprintf("WaitSet event ping-pong %d", rounds), procs: 2, killsMayStall: true, maxSteps: 20000, share: 4, build: func(s *sw.Sim) {
		var req, resp Event
		p, w := s.Process(), s.Process()
		startLoop = func(f func()) { s.Go(w, f) }
		ws := NewWaitSet()
		rw, err := ws.AddEvent(&resp)
		if err != nil {
			panic(err)
		}
		startLoop = func(f func()) { go f() }
		done, asleep := 0, false
		var note uint32
		s.Go(p, func() {
			for range rounds {
				if err := req.Wait(context.Background()); err != nil {
					panic(err)
				}
				resp.Set()
			}
		})
		s.Go(w, func() {
			var watch [1]futex.Watch
			for range rounds {
				req.Set()
				for {
					n := sw.LoadUint32(&rw.notes)
					if resp.TryWait() {
						break
					}
					watch[0].Set(&rw.notes, n)
					note, asleep = n, true
					sw.WaitAny(watch[:], time.Hour)
					asleep = false
				}
				done++
			}
			ws.closeAsync()
		})
		s.Idle(func() string {
			if asleep && !p.Dead && !w.Dead && rw.notes == note && resp.IsSet() {
				return "resp is set, the WaitSet's user sleeps and no notification is pending"
			}
			return ""
		})
		s.Final(func() string {
			if !p.Dead && !w.Dead && done != rounds {
				return fmt.Sprintf("%d of %d rounds", done, rounds)
			}
			return ""
		})
	}}
}

func TestExploreWaitSetPingPong(t *testing.T) {
	explore(t, waitSetPingPongModel(3))
}

// waitSetRingMonitorModel: process P sends msgs messages on a ring of
// capacity 2 (blocking Send), process C receives them with a blocking
// Recv (Block: it sleeps at once), and sets WaitSets, each the only
// object of its own process, watch the ring's receive side and never
// take anything. A commit wakes one sleeper of the ring, which may be a
// set's loop: the set must pass the wake-up on (ringSource.arm), or C
// sleeps with a message ready. Invariants: whenever no goroutine can run
// and nobody was killed, C is not asleep with a message ready at head;
// with nobody killed C gets every message, in order.
func waitSetRingMonitorModel(sets, msgs int) model {
	// An eighth of the schedules (12,500 in CI): the loops re-arm after
	// every step of the others.
	return model{name: fmt.Sprintf("WaitSet ring monitor x%d", sets), procs: 2 + sets, killsMayStall: true, maxSteps: 20000, share: 8, build: func(s *sw.Sim) {
		_, b, r := modelRing(16, 2)
		p, c := s.Process(), s.Process()
		var ws []*WaitSet
		var ps []*sw.Proc
		for range sets {
			w := s.Process()
			ps = append(ps, w)
			startLoop = func(f func()) { s.Go(w, f) }
			set := NewWaitSet()
			if _, err := set.AddRecv(r); err != nil {
				panic(err)
			}
			ws = append(ws, set)
		}
		startLoop = func(f func()) { go f() }
		ps = append(ps, p, c)
		fail := ""
		got, cDone := 0, false
		s.Go(p, func() {
			pr, _ := RingAt(b)
			for i := range msgs {
				if err := pr.Send(context.Background(), []byte{byte(i)}); err != nil {
					panic(err)
				}
			}
		})
		s.Go(c, func() {
			cr, _ := RingAt(b)
			ctx := WithWaitStrategy(context.Background(), Block)
			buf := make([]byte, 16)
			for got < msgs {
				n, err := cr.Recv(ctx, buf)
				if err != nil || n != 1 || int(buf[0]) != got {
					fail = fmt.Sprintf("message %d arrived as %v, %v", got, buf[:n], err)
				}
				got++
			}
			cDone = true
			for _, set := range ws {
				set.closeAsync() // the loops end (Close would wait on a channel)
			}
		})
		s.Check(func() string { return fail })
		s.Idle(func() string {
			if !anyDead(ps) && !cDone && r.ready(true) {
				return "a message is ready at the ring's head and C sleeps in Recv: a WaitSet kept the wake-up"
			}
			return ""
		})
		s.Final(func() string {
			if !anyDead(ps) && got != msgs {
				return fmt.Sprintf("C got %d of %d messages", got, msgs)
			}
			return ""
		})
	}}
}

func TestExploreWaitSetRingMonitor(t *testing.T) {
	explore(t, waitSetRingMonitorModel(1, 3))
	explore(t, waitSetRingMonitorModel(2, 3))
}

// TestExploreWaitSetRingMonitorRegressions replays the schedule in which
// the explorer found C asleep in Recv with a message ready when a set
// woken by the commit did not pass the wake-up on (ringSource.arm's pass
// removed): schedule 3 of WaitSet ring monitor x1.
func TestExploreWaitSetRingMonitorRegressions(t *testing.T) {
	cfg := sw.Config{Strategy: sw.Exhaustive, Seed: 3, MaxSteps: 20000, StepTime: 27 * time.Microsecond}
	if r := sw.Explore(cfg, waitSetRingMonitorModel(1, 3).build); r.Failure != "" {
		t.Fatalf("%v: %s", cfg, r.Failure)
	}
}
