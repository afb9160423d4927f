// Command eureka-fargo drives hudl/fargo against a real Eureka server, for
// rxdisco's interoperability tests. It prints one line per step on stdout.
//
//	eureka-fargo register  BASE APP ID HOST PORT   registers the instance (VIP address APP in
//	                                               lower case, metadata zone=z1), heartbeats
//	                                               every second until stdin closes, then
//	                                               deregisters
//	eureka-fargo instances BASE APP                prints the app's instances whenever they
//	                                               change, as a JSON line of sorted
//	                                               "id host:port status" strings ([] when the
//	                                               app is unknown), until stdin closes
//
// BASE is the REST base, e.g. http://127.0.0.1:8761/eureka.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hudl/fargo"
	"github.com/op/go-logging"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: eureka-fargo register BASE APP ID HOST PORT | instances BASE APP")
		os.Exit(2)
	}
	// fargo logs every request at INFO and a 404 at ERROR; keep stderr for real trouble.
	logging.SetLevel(logging.CRITICAL, "fargo")
	conn := fargo.NewConn(os.Args[2])
	conn.UseJson = true
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()

	switch os.Args[1] {
	case "register":
		if len(os.Args) != 7 {
			os.Exit(2)
		}
		port, err := strconv.Atoi(os.Args[6])
		if err != nil {
			fmt.Fprintln(os.Stderr, "port:", err)
			os.Exit(2)
		}
		instance := &fargo.Instance{
			InstanceId:       os.Args[4],
			HostName:         os.Args[5],
			IPAddr:           os.Args[5],
			App:              os.Args[3],
			VipAddress:       strings.ToLower(os.Args[3]),
			SecureVipAddress: strings.ToLower(os.Args[3]),
			Port:             port,
			PortEnabled:      true,
			Status:           fargo.UP,
			DataCenterInfo:   fargo.DataCenterInfo{Name: fargo.MyOwn},
		}
		instance.SetMetadataString("zone", "z1")
		if err := conn.RegisterInstance(instance); err != nil {
			fmt.Fprintln(os.Stderr, "register:", err)
			os.Exit(1)
		}
		fmt.Println("registered")
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				if err := conn.HeartBeatInstance(instance); err != nil {
					fmt.Fprintln(os.Stderr, "heartbeat:", err)
				}
			case <-stdinClosed:
				if err := conn.DeregisterInstance(instance); err != nil {
					fmt.Fprintln(os.Stderr, "deregister:", err)
					os.Exit(1)
				}
				fmt.Println("deregistered")
				return
			}
		}
	case "instances":
		conn.PollInterval = 200 * time.Millisecond
		done := make(chan struct{})
		updates := conn.ScheduleAppUpdates(os.Args[3], true, done)
		last := ""
		for {
			select {
			case u := <-updates:
				sorted := []string{}
				if u.Err != nil {
					if !errors.As(u.Err, new(fargo.AppNotFoundError)) {
						fmt.Fprintln(os.Stderr, "update error:", u.Err)
						continue
					}
				} else {
					for _, i := range u.App.Instances {
						sorted = append(sorted, fmt.Sprintf("%s %s:%d %s", i.Id(), i.HostName, i.Port, i.Status))
					}
				}
				sort.Strings(sorted)
				line, _ := json.Marshal(sorted)
				if string(line) != last {
					last = string(line)
					fmt.Println(last)
				}
			case <-stdinClosed:
				close(done)
				return
			}
		}
	default:
		os.Exit(2)
	}
}
