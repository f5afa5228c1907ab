/**
 * Home Assistant MQTT discovery for one camera: a novelty binary sensor (on for 30 s after each novelty event) and
 * a camera-state sensor, grouped as one device, unavailable while `<prefix>/available` is `offline`.
 * Topics `<discovery>/<component>/dino_stream/<object>/config`; object ids allow only [a-zA-Z0-9_-].
 */
export function homeAssistantDiscovery(streamId: string, prefix: string, discoveryPrefix = 'homeassistant'): { topic: string; config: Record<string, unknown> }[] {
  const obj = streamId.replace(/[^A-Za-z0-9_-]/g, '_');
  const device = { identifiers: [`dino_stream_${obj}`], name: `dino-stream ${streamId}`, manufacturer: 'dino-stream', model: 'DINO camera analytics' };
  const availability = { availability_topic: `${prefix}/available`, payload_available: 'online', payload_not_available: 'offline' };
  return [
    {
      topic: `${discoveryPrefix}/binary_sensor/dino_stream/${obj}_novelty/config`,
      config: {
        name: 'Novelty',
        unique_id: `dino_stream_${obj}_novelty`,
        state_topic: `${prefix}/${streamId}/novelty`,
        payload_on: 'ON',
        payload_off: 'OFF',
        off_delay: 30,
        json_attributes_topic: `${prefix}/${streamId}/event`,
        ...availability,
        device,
      },
    },
    {
      topic: `${discoveryPrefix}/sensor/dino_stream/${obj}_camera/config`,
      config: {
        name: 'Camera state',
        unique_id: `dino_stream_${obj}_camera`,
        state_topic: `${prefix}/${streamId}/state`,
        ...availability,
        device,
      },
    },
  ];
}
