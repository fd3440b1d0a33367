"""liveloop.robots — the robot control loop over MQTT (DESIGN.md §4; the wire format is in PROTOCOL.md).

Pure cores (no I/O, tested without an event loop):

    protocol.py    topics, the versioned msgspec schema, the codec (bytes → message or a ProtocolError naming the field)
    clocksync.py   OffsetEstimator: robot timestamps → graph clock (sliding-window minimum)
    timing.py      RatePacer: absolute deadlines, jitter, deadline misses
    schedule.py    ActionSchedule (the action due now, never a stale one), Watchdog (idle/running/stopped, with its
                   own deadline), hold_chunk (stay where you are)
    steering.py    SteeringCore: the voice agent's goals → what the robot pursues (a track, a point, hold)
    view.py        RobotView: the robot's newest state, plan and pursuit as the page's events
    robot.py       SimRobotCore: the reach-and-grasp simulator behind the protocol
    bridge.py      AgentCore: decode, clock-map, number chunks, answer faults (+ MqttBridge, its asyncio adapter)
    control.py     ControllerCore: decisions and heartbeats (+ AgentRunner; expert / RTI / DDPM-100 responders)

I/O:

    link.py        MqttLink: aiomqtt, credentials, TLS, reconnect with backoff, bounded queues
    broker.py      EmbeddedBroker (amqtt in-process) and MosquittoBroker (a private mosquitto process)
    sim.py         the simulated robot process (`liveloop robot sim`)
    nodes.py       graph nodes: RobotState, PolicyInput, RobotActions, TargetFromTracks
    app.py         the `liveloop robot` graph: robot state → RTI policy → MQTT; camera → vision → target
                   (the page and the voice agent around it: liveloop/apps/robot.py)
    cli.py         `liveloop robot` and `liveloop robot sim`
"""
