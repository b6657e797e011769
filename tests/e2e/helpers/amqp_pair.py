# An AMQP producer or consumer on pika (python3-pika) for tests/e2e/amqp.sh, run through a link
# to python3 named amqp-producer or amqp-consumer (the process's name from its exec, so every view
# of it has that name from the start).
#   produce PORT: declares queue orders and topic exchange events (bound to queue audit),
#                 publishes 300 to orders (default exchange) and 200 to events as user.<i>.created
#                 (each with a W3C traceparent header: trace id 0x5100 + i, parent 0x7700 + i),
#                 then a passive declare of a queue that is not there (404) and a get on an empty queue
#   consume PORT N: takes N messages from orders and audit (prefetch 10), acking each
import sys
import pika

role, port = sys.argv[1], int(sys.argv[2])
conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
ch = conn.channel()
ch.queue_declare(queue="orders")
ch.queue_declare(queue="audit")
ch.queue_declare(queue="empty")
ch.exchange_declare(exchange="events", exchange_type="topic")
ch.queue_bind(queue="audit", exchange="events", routing_key="user.#")
if role == "produce":
    for i in range(300):
        ch.basic_publish(exchange="", routing_key="orders", body=b"order %d" % i)
    for i in range(200):
        tp = "00-%032x-%016x-01" % (0x5100 + i, 0x7700 + i)
        ch.basic_publish(exchange="events", routing_key="user.%d.created" % i, body=b"{\"user\": %d}" % i,
                         properties=pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                         headers={"x-attempt": 1, "traceparent": tp}))
    assert ch.basic_get("empty") == (None, None, None)
    try:
        ch.queue_declare(queue="nope", passive=True)
        sys.exit("the passive declare of a missing queue succeeded")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
    conn.close()
else:
    n, got = int(sys.argv[3]), 0
    print("ready", flush=True)
    ch.basic_qos(prefetch_count=10)
    def take(c, method, props, body):
        global got
        c.basic_ack(method.delivery_tag)
        got += 1
        if got == n:
            c.stop_consuming()
    ch.basic_consume("orders", take)
    ch.basic_consume("audit", take)
    conn.call_later(30, ch.stop_consuming)
    ch.start_consuming()
    print("received", got)
    conn.close()
    sys.exit(0 if got == n else 1)
