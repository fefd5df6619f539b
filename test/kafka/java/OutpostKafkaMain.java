/*
 * Starts a Kafka broker (kafka.Kafka.main) that dies with the process that started it.
 *
 * The test harness passes its own pid as -Doutpost.parentPid. When that process is gone (exited,
 * crashed, or SIGKILLed test runner), System.exit(0) runs Kafka's shutdown hook, so the broker stops
 * cleanly and releases its ports and data dir. ProcessHandle compares start times, so a recycled
 * pid is not mistaken for the parent.
 */
public final class OutpostKafkaMain {
  private OutpostKafkaMain() {}

  public static void main(String[] args) throws Exception {
    String parent = System.getProperty("outpost.parentPid");
    if (parent != null && !parent.isEmpty()) {
      java.util.Optional<ProcessHandle> handle = ProcessHandle.of(Long.parseLong(parent));
      if (handle.isEmpty()) {
        System.err.println("outpost: parent process " + parent + " is already gone; not starting");
        System.exit(3);
      }
      handle.get().onExit().thenRun(() -> {
        System.err.println("outpost: parent process " + parent + " exited; stopping the broker");
        System.exit(0);
      });
    }
    kafka.Kafka.main(args);
  }
}
