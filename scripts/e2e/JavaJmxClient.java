// The Java side of t_java's JMX check: a JMX client (RMI: a registry lookup, then a second
// connection to the port the server exported its object on) of the JVM at HOST:PORT, printing
// the VM's name and whether its arguments name the JMX port.
import javax.management.*;
import javax.management.remote.*;
import java.lang.management.*;

public class JavaJmxClient {
    public static void main(String[] a) throws Exception {
        JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://" + a[0] + "/jmxrmi");
        try (JMXConnector c = JMXConnectorFactory.connect(url)) {
            MBeanServerConnection m = c.getMBeanServerConnection();
            RuntimeMXBean rt = ManagementFactory.newPlatformMXBeanProxy(m, ManagementFactory.RUNTIME_MXBEAN_NAME, RuntimeMXBean.class);
            System.out.println("jmx: vm " + rt.getVmName().split(" ")[0] + " args " + rt.getInputArguments().stream().filter(s -> s.contains("jmxremote.port")).count());
        }
    }
}
